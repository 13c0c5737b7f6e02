import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Express } from "express";
import { Registry } from "prom-client";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { createCache, type SpyCache } from "../../../backend/src/cache/index.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { postgresReadinessCheck, redisReadinessCheck } from "../../../backend/src/health/readiness-checks.ts";
import { adminCacheRouter } from "../../../backend/src/http/admin-cache-routes.ts";
import { createApp } from "../../../backend/src/http/app.ts";
import { registerAlertMetrics } from "../../../backend/src/monitoring/alert-metrics.ts";
import {
  AlertMonitor,
  type AlertReport,
  type AlertWebhookPayload,
} from "../../../backend/src/monitoring/alert-monitor.ts";
import { alertsRouter } from "../../../backend/src/monitoring/alert-routes.ts";
import { buildAlertRules } from "../../../backend/src/monitoring/alert-rules.ts";
import { createAlertSampler } from "../../../backend/src/monitoring/alert-sample.ts";
import { AlertWebhook } from "../../../backend/src/monitoring/alert-webhook.ts";
import { registerCacheStateMetrics } from "../../../backend/src/monitoring/cache-state-metrics.ts";
import {
  createRedisConnections,
  waitForRedisReady,
  type RedisConnections,
} from "../../../backend/src/redis/redis-connections.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { randomSnowflake, TEST_DATABASE_URL, testLogger, uniquePrefix } from "../../support/test-env.ts";

/** A local webhook receiver that keeps every JSON body and lets the test await the next one. */
async function webhookReceiver() {
  const bodies: AlertWebhookPayload[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString()) as AlertWebhookPayload);
      res.writeHead(204).end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts?token=receiver-secret`,
    bodies,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

const alert = (report: AlertReport, id: string) => report.alerts.find((entry) => entry.id === id)!;

describe("alerts on a real Redis outage: breaker opens -> fires after its for -> webhook -> Redis back -> resolved", () => {
  let server: ThrowawayRedis;
  let redis: RedisConnections;
  let cache: SpyCache;
  let prisma: PrismaClient;
  let keys: ApiKeyService;
  let hook: Awaited<ReturnType<typeof webhookReceiver>>;
  let monitor: AlertMonitor;
  let webhook: AlertWebhook;
  let app: Express;
  let registry: Registry;
  let adminKey: string;
  let guildKey: string;
  let clock = Date.parse("2026-11-22T10:00:00.000Z");

  beforeAll(async () => {
    const logger = testLogger();
    server = await ThrowawayRedis.start();
    redis = createRedisConnections({ url: server.url, commandTimeoutMs: 250, connectTimeoutMs: 500 }, logger);
    await waitForRedisReady(redis.client, 5_000);
    cache = createCache({
      redis: redis.client,
      subscriber: redis.subscriber,
      prefix: uniquePrefix("alerts"),
      logger,
      breaker: { failureThreshold: 3, minRecoveryTimeoutMs: 100, recoveryTimeoutMs: 300, halfOpenMaxCalls: 1 },
    });
    await cache.ready(5_000);
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    keys = new ApiKeyService({ prisma, logger });
    adminKey = (await keys.createKey({ name: "alerts admin", admin: true })).secret;
    guildKey = (await keys.createKey({ name: "alerts guild", guildIds: [randomSnowflake()] })).secret;
    hook = await webhookReceiver();
    webhook = new AlertWebhook({ url: hook.url, timeoutMs: 2_000, retries: 2, backoffMs: 50, logger });
    monitor = new AlertMonitor({
      rules: buildAlertRules(),
      sample: createAlertSampler({
        cache,
        redis: redis.client,
        readinessChecks: [redisReadinessCheck(redis.client), postgresReadinessCheck(prisma)],
        timeoutMs: 1_000,
      }),
      logger,
      webhook,
      instance: "alerts-test",
      now: () => clock,
    });
    registry = new Registry();
    registerAlertMetrics(registry, monitor);
    app = createApp({
      logger,
      readinessChecks: [],
      routers: [
        { path: "/api/admin", router: alertsRouter({ monitor, auth: keys }) },
        { path: "/api/admin", router: adminCacheRouter({ cache, auth: keys, logger }) },
      ],
    });
  });
  afterAll(async () => {
    await monitor?.close();
    await hook?.close();
    await cache?.close();
    await redis?.close();
    await keys?.whenIdle();
    await prisma?.$disconnect();
    await server?.kill();
  });

  it("fires cache_breaker_open and redis_unready after their for, posts them, shows them, and resolves them", async () => {
    const evaluateAt = async (offsetMs: number) => {
      clock += offsetMs;
      return monitor.evaluate();
    };
    const healthy = await evaluateAt(0);
    expect(alert(healthy, "cache_breaker_open")).toMatchObject({ state: "ok", value: 0 });
    expect(alert(healthy, "redis_unready")).toMatchObject({ state: "ok", value: 1 });
    expect(alert(healthy, "postgres_unready")).toMatchObject({ state: "ok", value: 1 });
    // maxmemory is not set on a default redis-server: the memory rule says so instead of guessing.
    expect(alert(healthy, "redis_memory_high")).toMatchObject({
      state: "ok",
      value: null,
      message: "maxmemory is not set on any master",
    });

    await server.kill();
    // The monitor's own stats reads go through the breaker: on an idle service they are what opens it.
    await vi.waitFor(async () => expect(alert(await monitor.evaluate(), "cache_breaker_open").state).toBe("pending"), {
      timeout: 10_000,
      interval: 50,
    });
    const pending = await evaluateAt(15_000);
    expect(alert(pending, "cache_breaker_open")).toMatchObject({ state: "pending", value: 2, threshold: 1 });
    expect(alert(pending, "redis_unready").state).toBe("pending");
    expect(hook.bodies).toHaveLength(0);

    const firing = await evaluateAt(15_000);
    expect(alert(firing, "cache_breaker_open")).toMatchObject({
      state: "firing",
      severity: "critical",
      message: "cache circuit breaker is open",
    });
    expect(alert(firing, "redis_unready").state).toBe("firing");
    expect(alert(firing, "postgres_unready").state).toBe("ok");

    await webhook.whenIdle();
    expect(hook.bodies).toHaveLength(1);
    const posted = hook.bodies[0]!;
    expect(posted).toMatchObject({
      source: "spywatcher",
      instance: "alerts-test",
      sentAt: new Date(clock).toISOString(),
    });
    expect(posted.alerts.map((a) => [a.id, a.state]).sort()).toEqual([
      ["cache_breaker_open", "firing"],
      ["redis_unready", "firing"],
    ]);
    const breaker = posted.alerts.find((a) => a.id === "cache_breaker_open")!;
    expect(breaker).toMatchObject({
      severity: "critical",
      value: 2,
      threshold: 1,
      message: "cache circuit breaker is open",
      since: new Date(clock - 30_000).toISOString(),
    });
    expect(breaker.description).toContain("circuit breaker");

    // The admin route: admin keys only, and it shows what fires.
    await request(app).get("/api/admin/alerts").expect(401);
    expect(
      (await request(app).get("/api/admin/alerts").set("authorization", `Bearer ${guildKey}`).expect(403)).body.error
        .code,
    ).toBe("E_FORBIDDEN");
    const shown = await request(app).get("/api/admin/alerts").set("authorization", `Bearer ${adminKey}`).expect(200);
    expect(shown.headers["cache-control"]).toBe("no-store");
    expect(shown.body.evaluatedAt).toBe(new Date(clock).toISOString());
    expect(alert(shown.body as AlertReport, "cache_breaker_open")).toMatchObject({
      state: "firing",
      severity: "critical",
      since: new Date(clock).toISOString(),
      value: 2,
      threshold: 1,
    });
    expect(shown.body.webhook).toMatchObject({ origin: new URL(hook.url).origin, delivered: 1, dropped: 0 });
    expect(JSON.stringify(shown.body)).not.toContain("receiver-secret");
    // The other admin routes behind it are untouched.
    await request(app)
      .get("/api/admin/cache/stats?keyspace=false")
      .set("authorization", `Bearer ${adminKey}`)
      .expect(200);
    const metrics = await registry.metrics();
    expect(metrics).toContain('spywatcher_alerts_firing{alert="cache_breaker_open",severity="critical"} 1');
    expect(metrics).toContain('spywatcher_alerts_firing{alert="postgres_unready",severity="critical"} 0');
    expect(metrics).toContain('spywatcher_readiness_check_up{check="redis"} 0');

    await server.resume();
    const outageEnded = clock;
    await vi.waitFor(
      async () => {
        clock += 15_000;
        const report = await monitor.evaluate();
        expect(alert(report, "cache_breaker_open").state).toBe("ok");
        expect(alert(report, "redis_unready").state).toBe("ok");
      },
      { timeout: 15_000, interval: 100 },
    );
    await vi.waitFor(
      () =>
        expect(
          hook.bodies
            .flatMap((body) => body.alerts)
            .filter((a) => a.state === "resolved")
            .map((a) => a.id)
            .sort(),
        ).toEqual(["cache_breaker_open", "redis_unready"]),
      { timeout: 5_000, interval: 20 },
    );
    const resolved = hook.bodies
      .flatMap((body) => body.alerts)
      .find((a) => a.id === "cache_breaker_open" && a.state === "resolved")!;
    expect(resolved).toMatchObject({ value: 0, message: "cache circuit breaker is closed" });
    expect(Date.parse(resolved.since)).toBeGreaterThan(outageEnded);
    expect(await registry.metrics()).toContain(
      'spywatcher_alerts_firing{alert="cache_breaker_open",severity="critical"} 0',
    );
  });

  it("reads the breaker in process: known to the alert sample and /metrics while the cache's getStats never answers", async () => {
    await server.kill();
    // Real traffic against the dead Redis opens the breaker (threshold 3).
    await vi.waitFor(
      async () => {
        await cache.get("probe").catch(() => undefined);
        expect(cache.getLocalStats().breaker.state).not.toBe("closed");
      },
      { timeout: 10_000, interval: 20 },
    );
    // The same cache, except that its Redis-backed stats hang (as through a frozen cluster).
    const hung = { getStats: () => new Promise<never>(() => undefined), getLocalStats: () => cache.getLocalStats() };
    const sample = await createAlertSampler({ cache: hung, redis: redis.client, readinessChecks: [], timeoutMs: 200 })(
      Date.now(),
    );
    expect(["open", "half-open"]).toContain(sample.breakerState);
    expect(sample.cache).not.toBeNull();
    expect(
      buildAlertRules()
        .find((rule) => rule.id === "cache_breaker_open")!
        .evaluate({ current: sample, earlier: [], windowMs: 60_000 }).firing,
    ).toBe(true);

    const stateRegistry = new Registry();
    registerCacheStateMetrics(stateRegistry, hung);
    expect(await stateRegistry.metrics()).toMatch(/^spywatcher_cache_breaker_state [12]$/m);

    // A cache with only getStats: the scrape is bounded by the timeout and leaves the unknown series out.
    const blindRegistry = new Registry();
    registerCacheStateMetrics(blindRegistry, { getStats: hung.getStats }, "spywatcher_cache_", 200);
    const started = performance.now();
    const text = await blindRegistry.metrics();
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(text).not.toMatch(/^spywatcher_cache_breaker_state /m);
    expect(text).not.toMatch(/^spywatcher_cache_breaker_opens_total /m);
    await server.resume();
  });
});
