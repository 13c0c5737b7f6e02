import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCache, type SpyCache } from "../../../backend/src/cache/index.ts";
import { redisReadinessCheck } from "../../../backend/src/health/readiness-checks.ts";
import { registerAlertMetrics } from "../../../backend/src/monitoring/alert-metrics.ts";
import { AlertMonitor, type AlertReport } from "../../../backend/src/monitoring/alert-monitor.ts";
import { buildAlertRules, DEFAULT_ALERT_THRESHOLDS } from "../../../backend/src/monitoring/alert-rules.ts";
import { createAlertSampler } from "../../../backend/src/monitoring/alert-sample.ts";
import {
  createRedisConnections,
  waitForRedisReady,
  type RedisConnections,
} from "../../../backend/src/redis/redis-connections.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { TEST_COMMAND_TIMEOUT_MS, TEST_REDIS_URL, testLogger, uniquePrefix } from "../../support/test-env.ts";

const MINUTE = 60_000;
const alert = (report: AlertReport, id: string) => report.alerts.find((entry) => entry.id === id)!;

/** A cache and an alert monitor on `redisUrl`, the monitor on a clock the test moves. */
async function monitoredCache(redisUrl: string, thresholds = DEFAULT_ALERT_THRESHOLDS) {
  const logger = testLogger();
  const redis: RedisConnections = createRedisConnections(
    { url: redisUrl, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS, connectTimeoutMs: 500 },
    logger,
  );
  await waitForRedisReady(redis.client, 5_000);
  const cache: SpyCache = createCache({
    redis: redis.client,
    subscriber: redis.subscriber,
    prefix: uniquePrefix("alert-traffic"),
    logger,
  });
  await cache.ready(5_000);
  let clock = Date.parse("2026-11-22T12:00:00.000Z");
  const monitor = new AlertMonitor({
    rules: buildAlertRules(thresholds),
    sample: createAlertSampler({
      cache,
      redis: redis.client,
      readinessChecks: [redisReadinessCheck(redis.client)],
      timeoutMs: 1_000,
    }),
    logger,
    windowMs: 30 * MINUTE,
    now: () => clock,
  });
  const registry = new Registry();
  registerAlertMetrics(registry, monitor);
  return {
    cache,
    redis,
    registry,
    evaluateAt: (offsetMs: number) => {
      clock += offsetMs;
      return monitor.evaluate();
    },
    close: async () => {
      await monitor.close();
      await cache.close();
      await redis.close();
    },
  };
}

describe("cache_hit_rate_low with real cache traffic", () => {
  let kit: Awaited<ReturnType<typeof monitoredCache>>;
  beforeAll(async () => {
    kit = await monitoredCache(TEST_REDIS_URL, { ...DEFAULT_ALERT_THRESHOLDS, cacheHitRateMinLookups: 20 });
  });
  afterAll(async () => kit?.close());

  it("is not judged under the lookup floor, goes pending and fires on misses, and resolves once hits dominate the window", async () => {
    const read = (key: string) => kit.cache.remember(key, "10m", async () => ({ key }));
    expect(alert(await kit.evaluateAt(0), "cache_hit_rate_low")).toMatchObject({ state: "ok", value: null });

    for (let i = 0; i < 10; i += 1) await read(`cold:${i}`);
    const idle = alert(await kit.evaluateAt(15_000), "cache_hit_rate_low");
    expect(idle).toMatchObject({ state: "ok", value: 0 });
    expect(idle.message).toBe("10 lookups in the window (< 20): not judged");

    for (let i = 10; i < 30; i += 1) await read(`cold:${i}`);
    const cold = alert(await kit.evaluateAt(15_000), "cache_hit_rate_low");
    expect(cold).toMatchObject({ state: "pending", value: 0, threshold: 90 });
    expect(cold.message).toBe("cache hit rate 0% over 30 lookups in the last 30 s (minimum 90%)");

    // 30 hits on the same keys: 50% over the window, still under 90% for longer than the rule's 10 min.
    for (let i = 0; i < 30; i += 1) await read(`cold:${i}`);
    expect(alert(await kit.evaluateAt(5 * MINUTE), "cache_hit_rate_low")).toMatchObject({
      state: "pending",
      value: 50,
    });
    expect(alert(await kit.evaluateAt(5 * MINUTE), "cache_hit_rate_low")).toMatchObject({
      state: "firing",
      value: 50,
      severity: "medium",
    });

    // 270 more hits: 300 of 330 lookups in the window hit (90.91%).
    for (let round = 0; round < 9; round += 1) for (let i = 0; i < 30; i += 1) await read(`cold:${i}`);
    expect(alert(await kit.evaluateAt(15_000), "cache_hit_rate_low")).toMatchObject({ state: "ok", value: 90.91 });
  });
});

describe("redis_memory_high and redis_evictions on a Redis with maxmemory", () => {
  let server: ThrowawayRedis;
  let kit: Awaited<ReturnType<typeof monitoredCache>>;
  let writer: Redis;
  beforeAll(async () => {
    server = await ThrowawayRedis.start();
    kit = await monitoredCache(server.url);
    writer = new Redis({ port: server.port, host: "127.0.0.1" });
  });
  afterAll(async () => {
    await kit?.close();
    writer?.disconnect();
    await server?.kill();
  });

  it("reads INFO memory and evicted_keys from the master: memory fires after its for, evictions at once", async () => {
    const before = await kit.evaluateAt(0);
    expect(alert(before, "redis_memory_high")).toMatchObject({
      state: "ok",
      value: null,
      message: "maxmemory is not set on any master",
    });
    expect(alert(before, "redis_evictions")).toMatchObject({ state: "ok", value: null });

    const used = Number(/used_memory:(\d+)/.exec(await writer.info("memory"))![1]);
    await writer.config("SET", "maxmemory", String(used + 2 * 1024 * 1024));
    await writer.config("SET", "maxmemory-policy", "allkeys-lru");
    const value = "x".repeat(10_000);
    for (let batch = 0; batch < 8; batch += 1) {
      const pipeline = writer.pipeline();
      for (let i = 0; i < 100; i += 1) pipeline.set(`filler:${batch}:${i}`, value);
      await pipeline.exec();
    }

    // Redis evicts while it runs any command over maxmemory (the monitor's own INFO included), so the exported
    // counter is bracketed by what this Redis said just before the evaluation and just after the export.
    const evictedBefore = Number(/evicted_keys:(\d+)/.exec(await writer.info("stats"))![1]);
    expect(evictedBefore).toBeGreaterThan(0);
    const full = await kit.evaluateAt(15_000);
    const memory = alert(full, "redis_memory_high");
    expect(memory.state).toBe("pending");
    expect(memory.value).toBeGreaterThan(90);
    expect(memory.message).toMatch(
      new RegExp(`^Redis 127\\.0\\.0\\.1:${server.port} uses [\\d.]+% of maxmemory \\(maximum 80%\\)$`),
    );
    const evictions = alert(full, "redis_evictions");
    expect(evictions.state).toBe("firing");
    expect(evictions.value).toBeGreaterThan(0);
    // Exported per master, as this Redis itself counts them.
    const exposition = await kit.registry.metrics();
    const evictedAfter = Number(/evicted_keys:(\d+)/.exec(await writer.info("stats"))![1]);
    const series = new RegExp(
      `^spywatcher_redis_evicted_keys_total\\{node="127\\.0\\.0\\.1:${server.port}"\\} (\\d+)$`,
      "m",
    );
    const exported = Number(series.exec(exposition)?.[1]);
    expect(exported).toBeGreaterThanOrEqual(evictedBefore);
    expect(exported).toBeLessThanOrEqual(evictedAfter);

    expect(alert(await kit.evaluateAt(5 * MINUTE), "redis_memory_high").state).toBe("firing");
    // Memory freed and maxmemory lifted: both resolve (evictions once the increase leaves the 30 min window).
    await writer.config("SET", "maxmemory", "0");
    const freed = await kit.evaluateAt(20 * MINUTE);
    expect(alert(freed, "redis_memory_high")).toMatchObject({ state: "ok", value: null });
    expect(alert(freed, "redis_evictions").state).toBe("firing");
    // 11 min later the window (30 min) starts after the evictions: the baseline is the previous sample.
    expect(alert(await kit.evaluateAt(11 * MINUTE), "redis_evictions")).toMatchObject({ state: "ok", value: 0 });

    // Redis gone: the evictions series disappears (a 0 would read as a counter reset, then an increase on return).
    writer.disconnect();
    await server.kill();
    expect(alert(await kit.evaluateAt(15_000), "redis_evictions")).toMatchObject({ state: "ok", value: null });
    const blind = await kit.registry.metrics();
    expect(blind).toContain("# TYPE spywatcher_redis_evicted_keys_total counter");
    expect(blind).not.toMatch(/^spywatcher_redis_evicted_keys_total/m);
    expect(blind).not.toMatch(/^spywatcher_ingest_buffer_capacity_rows/m);
  });
});
