import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AlertMonitor, type AlertWebhookPayload } from "../../../backend/src/monitoring/alert-monitor.ts";
import { buildAlertRules } from "../../../backend/src/monitoring/alert-rules.ts";
import type { AlertSample } from "../../../backend/src/monitoring/alert-sample.ts";
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
    const webhook = new AlertWebhook({
      url: `${hook.origin}${SECRET_PATH}?token=also-secret`,
      retries: 3,
      backoffMs: 10,
      logger,
    });
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
    const webhook = new AlertWebhook({
      url: `${hook.origin}${SECRET_PATH}`,
      timeoutMs: 100,
      retries: 1,
      backoffMs: 10,
      logger,
    });
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

  it("close() without a grace period ends a delivery waiting for its retry at once and drops what is queued", async () => {
    const hook = await receiver([500]);
    cleanups.push(hook.close);
    const { logger } = capturingLogger();
    const webhook = new AlertWebhook({ url: hook.origin, retries: 5, backoffMs: 60_000, closeGraceMs: 0, logger });
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

  it("close() waits (bounded by closeGraceMs) for what is queued: delivered when the receiver answers, dropped when it hangs", async () => {
    const hook = await receiver([200]);
    cleanups.push(hook.close);
    const { logger } = capturingLogger();
    const webhook = new AlertWebhook({ url: hook.origin, closeGraceMs: 5_000, logger });
    webhook.send({ n: 1 });
    webhook.send({ n: 2 });
    await webhook.close();
    expect(hook.bodies).toEqual([{ n: 1 }, { n: 2 }]);
    expect(webhook.stats()).toMatchObject({ delivered: 2, dropped: 0 });

    const hanging = await receiver([0]);
    cleanups.push(hanging.close);
    const stuck = new AlertWebhook({ url: hanging.origin, timeoutMs: 60_000, closeGraceMs: 200, logger });
    stuck.send({ n: 1 });
    const started = performance.now();
    await stuck.close();
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(150);
    expect(waited).toBeLessThan(2_000);
    expect(stuck.stats()).toMatchObject({ delivered: 0, dropped: 1 });
  });

  it("counts a 3xx as a failed attempt and does not follow it (a redirect is not a delivery)", async () => {
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      req.resume();
      if (req.url === "/moved") res.writeHead(302, { location: "/elsewhere" }).end();
      else res.writeHead(200).end();
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const { logger, text } = capturingLogger();
    const webhook = new AlertWebhook({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/moved`,
      retries: 0,
      logger,
    });
    cleanups.push(() => webhook.close());
    webhook.send({ n: 1 });
    await webhook.whenIdle();
    expect(requests).toEqual(["POST /moved"]);
    expect(webhook.stats()).toMatchObject({ delivered: 0, failedAttempts: 1, dropped: 1 });
    expect(text.join("")).toContain("redirect");
  });

  it("a full queue drops its oldest payload, counted and logged", async () => {
    const hook = await receiver([0]);
    cleanups.push(hook.close);
    const { logger, text } = capturingLogger();
    const webhook = new AlertWebhook({
      url: hook.origin,
      timeoutMs: 60_000,
      retries: 0,
      maxQueued: 2,
      closeGraceMs: 0,
      logger,
    });
    webhook.send({ n: 1 });
    // n 1 is in flight (the receiver never answers); n 2 and 3 wait; n 4 pushes n 2 out.
    await expect.poll(() => hook.bodies.length).toBe(1);
    webhook.send({ n: 2 });
    webhook.send({ n: 3 });
    expect(webhook.stats()).toMatchObject({ queued: 2, dropped: 0 });
    webhook.send({ n: 4 });
    expect(webhook.stats()).toMatchObject({ queued: 2, dropped: 1 });
    expect(text.join("")).toContain("alert webhook queue full: oldest payload dropped");
    await webhook.close();
    // At close: the one in flight and the two queued are dropped too.
    expect(webhook.stats()).toMatchObject({ delivered: 0, queued: 0, dropped: 4 });
    expect(hook.bodies).toEqual([{ n: 1 }]);
  });
});

describe("AlertMonitor with a webhook (injected clock, local receiver)", () => {
  it("re-sends a still-firing alert every repeatMs, and on close resolves what fires in one last body (stopping: true)", async () => {
    const hook = await receiver([200]);
    const { logger } = capturingLogger();
    const webhook = new AlertWebhook({ url: hook.origin, logger });
    let clock = Date.parse("2026-11-22T10:00:00.000Z");
    const start = clock;
    const healthy: Omit<AlertSample, "at"> = {
      cache: { lookups: 0, hits: 0 },
      breakerState: "open",
      redis: { nodes: [] },
      ingest: null,
      invalidationErrors: null,
      readiness: [],
      wsSlowConsumerCloses: null,
    };
    const monitor = new AlertMonitor({
      rules: buildAlertRules(),
      sample: async (at) => ({ ...healthy, at }),
      logger,
      webhook,
      repeatMs: 60_000,
      instance: "api-test:3001",
      now: () => clock,
    });
    try {
      const at = async (ms: number) => {
        clock = start + ms;
        await monitor.evaluate();
        await webhook.whenIdle();
      };
      await at(0);
      await at(30_000);
      const bodies = () => hook.bodies as AlertWebhookPayload[];
      expect(bodies().map((b) => b.alerts.map((a) => [a.id, a.state]))).toEqual([[["cache_breaker_open", "firing"]]]);
      await at(45_000);
      await at(75_000);
      expect(bodies()).toHaveLength(1);
      // 60 s after it was sent: sent again, same since (when the condition started).
      await at(90_000);
      expect(bodies()).toHaveLength(2);
      expect(bodies()[1]!.alerts).toEqual([
        expect.objectContaining({ id: "cache_breaker_open", state: "firing", since: new Date(start).toISOString() }),
      ]);
      await at(120_000);
      expect(bodies()).toHaveLength(2);

      clock = start + 125_000;
      await monitor.close();
      expect(bodies()).toHaveLength(3);
      const last = bodies()[2]!;
      expect(last).toMatchObject({
        source: "spywatcher",
        instance: "api-test:3001",
        stopping: true,
        sentAt: new Date(start + 125_000).toISOString(),
      });
      expect(last.alerts).toEqual([
        expect.objectContaining({
          id: "cache_breaker_open",
          state: "resolved",
          since: new Date(start + 125_000).toISOString(),
          message: "instance api-test:3001 stopped: no longer evaluated (last: cache circuit breaker is open)",
        }),
      ]);
      expect(webhook.stats()).toMatchObject({ delivered: 3, dropped: 0 });
    } finally {
      await monitor.close();
      await hook.close();
    }
  });
});
