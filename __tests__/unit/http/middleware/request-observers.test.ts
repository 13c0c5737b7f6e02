import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { request as httpRequest } from "node:http";
import express from "express";
import { Registry } from "prom-client";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { requestLog } from "../../../../backend/src/http/middleware/request-log.ts";
import { observeRequests } from "../../../../backend/src/http/middleware/request-observers.ts";
import { httpRequestMetrics } from "../../../../backend/src/monitoring/http-request-metrics.ts";
import { withRouteBase } from "../../../../backend/src/monitoring/route-template.ts";
import { capturingLogger } from "../../../support/capturing-logger.ts";

/** An app with the metrics and a request log (slow from 40 ms) observing: /api/fast, /api/slow (60 ms), /api/hang (never answers). */
function observedApp() {
  const registry = new Registry();
  const { logger, lines } = capturingLogger();
  let hung: (() => void) | undefined;
  const hangClosed = new Promise<void>((resolve) => (hung = resolve));
  const router = express.Router();
  router.get("/fast", (_req, res) => void res.json({ ok: true }));
  router.get("/slow", (_req, res) => void setTimeout(() => res.json({ ok: true }), 60));
  router.get("/hang", (_req, res) => void res.on("close", () => hung!()));
  const app = express();
  app.use(observeRequests([httpRequestMetrics(registry), requestLog({ logger, slowMs: 40 })!]));
  app.use("/api", withRouteBase("/api", router));
  return { app, registry, lines, hangClosed };
}

describe("observeRequests with the metrics and the request log", () => {
  it("times every request under its route template, logs only the slow one at warn, and counts a client that left as aborted", async () => {
    const { app, registry, lines, hangClosed } = observedApp();
    await request(app).get("/api/fast").expect(200);
    await request(app).get("/api/slow").expect(200);
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const client = httpRequest({
        host: "127.0.0.1",
        port: (server.address() as AddressInfo).port,
        path: "/api/hang",
      });
      client.on("error", () => undefined);
      const arrived = once(server, "request");
      client.end();
      await arrived;
      client.destroy();
      await hangClosed;
    } finally {
      server.close();
    }
    const text = await registry.metrics();
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/api\/fast",status="200"\} 1/);
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/api\/slow",status="200"\} 1/);
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/api\/hang",status="aborted"\} 1/);
    const logged = lines.filter((line) => line.msg === "slow request");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 40, method: "GET", path: "/slow", status: 200 });
    expect(logged[0]!.ms as number).toBeGreaterThanOrEqual(40);
    expect(lines.filter((line) => line.msg !== "slow request")).toEqual([]);
  });
});
