import { type Cluster, Redis } from "ioredis";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CacheStatsRecorder } from "../../../../backend/src/cache/stats/cache-stats-recorder.ts";
import { FleetStatsStore } from "../../../../backend/src/cache/stats/fleet-stats-store.ts";
import { registerCacheMetrics } from "../../../../backend/src/cache/stats/prometheus-metrics.ts";
import { startRedisCluster, type RedisClusterHandle } from "../../../support/redis-cluster.ts";
import { ThrowawayRedis } from "../../../support/redis-server.ts";
import { TEST_REDIS_URL, uniquePrefix } from "../../../support/test-env.ts";

const recorders: CacheStatsRecorder[] = [];

/** A recorder closed after each test; no timer unless the test asks for one. */
function recorder(redis: Redis | Cluster, prefix: string, instanceId: string, flushIntervalMs = 0): CacheStatsRecorder {
  const created = new CacheStatsRecorder({ redis, prefix, instanceId, flushIntervalMs });
  recorders.push(created);
  return created;
}

/** Resolves once the connection is ready (without an offline queue, commands sent earlier fail at once). */
function untilReady(redis: Redis): Promise<void> {
  return new Promise((resolve) => (redis.status === "ready" ? resolve() : redis.once("ready", () => resolve())));
}

afterEach(async () => {
  await Promise.all(recorders.splice(0).map((r) => r.close()));
});

describe("CacheStatsRecorder, local snapshot", () => {
  it("counts this application's outcomes and computes the hit rate", () => {
    const stats = new CacheStatsRecorder({
      redis: undefined as never,
      prefix: "unused",
      instanceId: "i",
      flushIntervalMs: 0,
    });
    for (let i = 0; i < 6; i += 1) stats.recordHit("l1");
    for (let i = 0; i < 2; i += 1) stats.recordHit("l2");
    stats.recordStale();
    stats.recordMiss();
    stats.recordError();
    for (let ms = 1; ms <= 100; ms += 1) stats.observeRedisLatency(ms);
    stats.observeLoaderLatency(40);
    const snapshot = stats.snapshot();
    expect(snapshot).toMatchObject({
      scope: "instance",
      instanceId: "i",
      hits: { l1: 6, l2: 2, total: 8 },
      stale: 1,
      misses: 1,
      errors: 1,
      bypasses: 0,
      lookups: 10,
      hitRatePercent: 90,
    });
    expect(snapshot.redisLatencyMs.count).toBe(100);
    expect(snapshot.redisLatencyMs.p50Ms).toBeGreaterThan(47);
    expect(snapshot.redisLatencyMs.p50Ms).toBeLessThan(53);
    expect(snapshot.redisLatencyMs.maxMs).toBe(100);
    expect(snapshot.loaderLatencyMs.p99Ms).toBeCloseTo(40, 0);
    expect(
      new CacheStatsRecorder({ redis: undefined as never, prefix: "p", instanceId: "j", flushIntervalMs: 0 }).snapshot()
        .hitRatePercent,
    ).toBeNull();
  });

  it("keeps at most 64 stats labels; later ones count in the totals only", () => {
    const stats = new CacheStatsRecorder({
      redis: undefined as never,
      prefix: "unused",
      instanceId: "i",
      flushIntervalMs: 0,
    });
    for (let i = 0; i < 70; i += 1) stats.recordMiss(`label-${i}`);
    const snapshot = stats.snapshot();
    expect(Object.keys(snapshot.byLabel ?? {})).toHaveLength(64);
    expect(snapshot.byLabel?.["label-69"]).toBeUndefined();
    expect(snapshot.misses).toBe(70);
  });

  it("exposes the counters and the latency histogram as Prometheus metrics", async () => {
    const stats = new CacheStatsRecorder({
      redis: undefined as never,
      prefix: "unused",
      instanceId: "i",
      flushIntervalMs: 0,
    });
    stats.recordHit("l2");
    stats.recordHit("l2");
    stats.recordMiss();
    stats.observeRedisLatency(2);
    const registry = new Registry();
    registerCacheMetrics(registry, stats);
    let text = await registry.metrics();
    expect(text).toContain('spywatcher_cache_lookups_total{outcome="hit_l2"} 2');
    expect(text).toContain('spywatcher_cache_lookups_total{outcome="miss"} 1');
    // A histogram read from the in-process one at scrape time: 2 ms lies between the 1.024 ms and 2.048 ms bounds.
    expect(text).toMatch(/^# TYPE cache_operation_latency_seconds histogram$/m);
    expect(text).toContain('cache_operation_latency_seconds_bucket{le="0.001024",source="redis"} 0');
    expect(text).toContain('cache_operation_latency_seconds_bucket{le="0.002048",source="redis"} 1');
    expect(text).toContain('cache_operation_latency_seconds_bucket{le="+Inf",source="redis"} 1');
    expect(text).toContain('cache_operation_latency_seconds_sum{source="redis"} 0.002');
    expect(text).toContain('cache_operation_latency_seconds_count{source="loader"} 0');
    expect(text).not.toContain("spywatcher_cache_latency_ms");
    stats.recordMiss();
    text = await registry.metrics();
    expect(text).toContain('spywatcher_cache_lookups_total{outcome="miss"} 2');
  });
});

const deployments: Record<
  "single node" | "cluster",
  { open(): Promise<[Redis | Cluster, Redis | Cluster]>; close(): Promise<void> }
> = {
  "single node": (() => {
    const opened: Redis[] = [];
    return {
      async open() {
        const pair: [Redis, Redis] = [
          new Redis(TEST_REDIS_URL, { protocol: 2 }),
          new Redis(TEST_REDIS_URL, { protocol: 2 }),
        ];
        opened.push(...pair);
        return pair;
      },
      async close() {
        await Promise.all(opened.map((redis) => redis.quit()));
      },
    };
  })(),
  cluster: (() => {
    let cluster: RedisClusterHandle | undefined;
    return {
      async open() {
        // The default node timeout (5 s): no failover here, and a CPU-starved node is not mistaken for a dead one.
        cluster = await startRedisCluster();
        return [cluster.client(), cluster.client()];
      },
      async close() {
        await cluster?.stop();
      },
    };
  })(),
};

describe.each(Object.keys(deployments) as (keyof typeof deployments)[])("fleet statistics on a %s", (kind) => {
  let a: Redis | Cluster;
  let b: Redis | Cluster;

  beforeAll(async () => {
    [a, b] = await deployments[kind].open();
  });

  afterAll(async () => {
    await deployments[kind].close();
  });

  it("sums every instance's counters and latency buckets, and nothing of another prefix", async () => {
    const prefix = uniquePrefix("stats");
    const first = recorder(a, prefix, "instance-a");
    const second = recorder(b, prefix, "instance-b");
    const stranger = recorder(a, uniquePrefix("stats-other"), "instance-x");
    for (let i = 0; i < 30; i += 1) first.recordHit("l2");
    for (let i = 0; i < 10; i += 1) second.recordMiss();
    second.recordHit("l1");
    second.recordBypass();
    stranger.recordMiss();
    for (let ms = 1; ms <= 50; ms += 1) first.observeRedisLatency(ms);
    for (let ms = 51; ms <= 100; ms += 1) second.observeRedisLatency(ms);
    second.observeLoaderLatency(12);
    await Promise.all([second.flush(), stranger.flush()]);

    const fleet = await first.fleetStats();
    expect(fleet).toMatchObject({
      scope: "fleet",
      range: { kind: "lifetime" },
      activeInstances: ["instance-a", "instance-b"],
      hits: { l1: 1, l2: 30, total: 31 },
      misses: 10,
      bypasses: 1,
      lookups: 42,
    });
    expect(fleet.hitRatePercent).toBeCloseTo((31 / 42) * 100, 1);
    expect(fleet.redisLatencyMs.count).toBe(100);
    expect(fleet.redisLatencyMs.p50Ms).toBeGreaterThan(47);
    expect(fleet.redisLatencyMs.p50Ms).toBeLessThan(53);
    expect(fleet.redisLatencyMs.p99Ms).toBeGreaterThan(95);
    expect(fleet.redisLatencyMs.meanMs).toBeCloseTo(50.5, 1);
    expect(fleet.loaderLatencyMs.count).toBe(1);
    // The window view of the last minute holds the same figures; every stats key sits in one slot.
    const recent = await second.fleetStats({ lastMs: 60_000 });
    expect(recent.range.kind).toBe("window");
    expect(recent.hits.total).toBe(31);
    expect(recent.redisLatencyMs.count).toBe(100);
  });

  it("counts per stats label too, summed over the fleet, deltas only", async () => {
    const prefix = uniquePrefix("stats-label");
    const first = recorder(a, prefix, "instance-a");
    const second = recorder(b, prefix, "instance-b");
    first.recordHit("l1", "ghosts");
    first.recordHit("l2", "ghosts");
    first.recordMiss("ghosts");
    first.recordMiss(); // unlabelled: totals only
    second.recordHit("l2", "ghosts");
    second.recordStale("heatmap");
    second.recordMiss("heatmap");
    second.recordBypass("heatmap");
    await second.flush();
    await second.flush();
    second.recordMiss("heatmap");
    await second.flush();
    const fleet = await first.fleetStats();
    expect(fleet.byLabel).toEqual({
      ghosts: { hits: 3, stale: 0, misses: 1, bypasses: 0, lookups: 4, hitRatePercent: 75 },
      heatmap: { hits: 0, stale: 1, misses: 2, bypasses: 1, lookups: 4, hitRatePercent: 25 },
    });
    expect(fleet.misses).toBe(4);
    expect((await second.fleetStats({ lastMs: 60_000 })).byLabel?.ghosts?.lookups).toBe(4);
    expect(first.snapshot().byLabel).toEqual({
      ghosts: { hits: 2, stale: 0, misses: 1, bypasses: 0, lookups: 3, hitRatePercent: 66.67 },
    });
  });

  it("sends only deltas: repeated flushes never double count", async () => {
    const prefix = uniquePrefix("stats-delta");
    const stats = recorder(a, prefix, "instance-a");
    stats.recordMiss();
    await stats.flush();
    await stats.flush();
    stats.recordMiss();
    stats.observeLoaderLatency(5);
    await Promise.all([stats.flush(), stats.flush()]);
    await stats.flush();
    const fleet = await stats.fleetStats();
    expect(fleet.misses).toBe(2);
    expect(fleet.loaderLatencyMs.count).toBe(1);
    const store = new FleetStatsStore(a, prefix);
    expect(await a.hget(store.totalKey, "misses")).toBe("2");
  });

  it("flushes by itself on its timer", async () => {
    const prefix = uniquePrefix("stats-timer");
    const stats = recorder(a, prefix, "instance-timer", 50);
    stats.recordHit("l1");
    const store = new FleetStatsStore(b, prefix);
    const deadline = Date.now() + 10_000;
    // The timer has no event to await from outside: poll Redis until the flush lands (bounded).
    while ((await b.hget(store.totalKey, "hitsL1")) !== "1") {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
});

describe("fleet statistics while Redis is down", () => {
  let server: ThrowawayRedis;
  let redis: Redis;

  beforeAll(async () => {
    server = await ThrowawayRedis.start();
    redis = new Redis(server.url, {
      protocol: 2,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 20,
    });
    redis.on("error", () => undefined);
    await untilReady(redis);
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.kill();
  });

  it("keeps the deltas of a failed flush and sends them once Redis is back, losing nothing", async () => {
    const prefix = uniquePrefix("stats-outage");
    const stats = recorder(redis, prefix, "instance-outage");
    stats.recordMiss();
    await stats.flush();
    await server.kill();
    stats.recordHit("l2");
    stats.recordHit("l2");
    stats.observeRedisLatency(3);
    await expect(stats.flush()).rejects.toThrow();
    expect(stats.snapshot().flushFailures).toBe(1);
    // Recording never touches Redis, so it works during the outage.
    stats.recordStale();

    await server.resume();
    await untilReady(redis);
    const fleet = await stats.fleetStats();
    // The restarted server lost the first flush (no persistence); everything recorded since was kept and sent.
    expect(fleet).toMatchObject({ misses: 0, hits: { l2: 2 }, stale: 1 });
    expect(fleet.redisLatencyMs.count).toBe(1);
  });
});
