import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AlertWebhook } from "../../../backend/src/monitoring/alert-webhook.ts";

/** A local receiver: answers each POST with the next status of `statuses` (the last one repeats; 0: never answers). */
async function receiver(statuses: number[]) {
  const bodies: unknown[] = [];
  const paths: string[] = [];
  let calls = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      paths.push(req.url ?? "");
      bodies.push(JSON.parse(Buffer.concat(chunks).toString()));
      const status = statuses[Math.min(calls, statuses.length - 1)]!;
      calls += 1;
      if (status === 0) return; // hang: the client's timeout must end the attempt
      res.writeHead(status).end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    bodies,
    paths,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function capturingLogger() {
  const text: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), text };
}

const SECRET_PATH = "/hooks/T000/B000/secret-token-abcdef";

describe("AlertWebhook against a local HTTP receiver", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it("POSTs the JSON payload and retries failed attempts with back-off until one succeeds", async () => {
    const hook = await receiver([500, 503, 204]);
    cleanups.push(hook.close);
    const { logger, text } = capturingLogger();
    const webhook = new AlertWebhook({ url: `${hook.origin}${SECRET_PATH}?token=also-secret`, retries: 3, backoffMs: 10, logger });
    cleanups.push(() => webhook.close());

    webhook.send({ alerts: [{ id: "cache_breaker_open", state: "firing" }] });
    await webhook.whenIdle();

    expect(hook.bodies).toHaveLength(3);
    expect(hook.bodies[2]).toEqual({ alerts: [{ id: "cache_breaker_open", state: "firing" }] });
    expect(hook.paths[0]).toBe(`${SECRET_PATH}?token=also-secret`);
    expect(webhook.stats()).toEqual({ origin: hook.origin, delivered: 1, failedAttempts: 2, dropped: 0, queued: 0 });
    const logs = text.join("");
    expect(logs).toContain('"reason":"HTTP 500"');
    expect(logs).toContain(`"webhook":"${hook.origin}"`);
    // The URL's path and query may hold a token: never logged.
    expect(logs).not.toContain("secret");
  });

  it("bounds each attempt by its timeout and gives up after the retries, counted and logged", async () => {
    const hook = await receiver([0]);
    cleanups.push(hook.close);
    const { logger, text } = capturingLogger();
    const webhook = new AlertWebhook({ url: `${hook.origin}${SECRET_PATH}`, timeoutMs: 100, retries: 1, backoffMs: 10, logger });
    cleanups.push(() => webhook.close());

    const started = performance.now();
    webhook.send({ n: 1 });
    // send() only queues: a hanging receiver never delays the caller.
    expect(performance.now() - started).toBeLessThan(20);
    await webhook.whenIdle();
    expect(webhook.stats()).toMatchObject({ delivered: 0, failedAttempts: 2, dropped: 1 });
    expect(text.join("")).toContain("no answer within 100 ms");
    expect(text.join("")).toContain("alert webhook payload not delivered");
    expect(text.join("")).not.toContain("secret");
  });

  it("delivers payloads one at a time in order; a connection refused is a failed attempt", async () => {
    const hook = await receiver([200]);
    const { logger } = capturingLogger();
    const webhook = new AlertWebhook({ url: hook.origin, retries: 0, logger });
    cleanups.push(() => webhook.close());
    for (let n = 0; n < 5; n += 1) webhook.send({ n });
    await webhook.whenIdle();
    expect(hook.bodies).toEqual([0, 1, 2, 3, 4].map((n) => ({ n })));

    await hook.close();
    webhook.send({ n: 5 });
    await webhook.whenIdle();
    expect(webhook.stats()).toMatchObject({ delivered: 5, failedAttempts: 1, dropped: 1 });
  });

  it("close() ends a delivery waiting for its retry at once and drops what is queued", async () => {
    const hook = await receiver([500]);
    cleanups.push(hook.close);
    const { logger } = capturingLogger();
    const webhook = new AlertWebhook({ url: hook.origin, retries: 5, backoffMs: 60_000, logger });
    webhook.send({ n: 1 });
    webhook.send({ n: 2 });
    // The first attempt failed: the payload now waits a minute for its retry.
    await expect.poll(() => webhook.stats().failedAttempts).toBe(1);
    const started = performance.now();
    await webhook.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(webhook.stats()).toMatchObject({ delivered: 0, dropped: 2, queued: 0 });
    webhook.send({ n: 3 });
    expect(webhook.stats().queued).toBe(0);
  });
});
