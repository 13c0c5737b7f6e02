import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SpyCache } from "../../../backend/src/cache/index.ts";
import { createRedisConnections, type RedisConnections } from "../../../backend/src/redis/redis-connections.ts";
import { createServiceCache } from "../../../backend/src/composition/service-cache.ts";
import { startRedisCluster, type RedisClusterHandle } from "../../support/redis-cluster.ts";
import { testConfig, testLogger, uniquePrefix } from "../../support/test-env.ts";

/**
 * Every node of the cluster gone: the ioredis Cluster client then has no slot map and queues commands without a
 * deadline, so everything the cache does must be bounded by the cache itself.
 */
describe("the cache on a Redis Cluster whose every node is gone", () => {
  let cluster: RedisClusterHandle;
  let redis: RedisConnections;
  let cache: SpyCache;
  /** The service's command timeout in tests (REDIS_COMMAND_TIMEOUT_MS), plus scheduling slack. */
  let boundMs: number;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    const config = testConfig({
      REDIS_CLUSTER_NODES: cluster.nodes.join(","),
      REDIS_KEY_PREFIX: uniquePrefix("cluster-outage"),
    });
    boundMs = (config.redis.commandTimeoutMs ?? 250) + 500;
    redis = createRedisConnections(config.redis, testLogger());
    cache = createServiceCache(config, redis, testLogger());
    await cache.ready(10_000);
    await cache.set("kept", "value", { ttl: "1m", tags: ["outage"] });
    expect(await cache.get("kept")).toBe("value");
    await cluster.stop();
  }, 60_000);
  afterAll(async () => {
    // close() must end although no node answers (each Redis step is bounded).
    const started = performance.now();
    await cache?.close();
    expect(performance.now() - started).toBeLessThan(3_000);
    await redis?.close();
    await cluster?.stop();
  });

  it("remember runs the loader within the command timeout; stats answer with what the process knows", async () => {
    let started = performance.now();
    // A key this process never read (an L1 copy of "kept" may still be served until the tag map's trust lapses).
    const result = await cache.rememberWithMeta("never-read", "1m", async () => "loaded");
    expect(result).toMatchObject({ value: "loaded", status: "bypass" });
    expect(performance.now() - started).toBeLessThan(boundMs);

    started = performance.now();
    const stats = await cache.getStats();
    // Fleet read (1 s bound) and the keyspace and INFO reads (command timeout each), in parallel.
    expect(performance.now() - started).toBeLessThan(boundMs + 1_000);
    expect(stats).toMatchObject({ fleet: null, keyspace: null, redis: { evictedKeys: null } });
    expect(stats.instance.bypasses).toBeGreaterThanOrEqual(1);
    expect(cache.getLocalStats().breaker).toEqual(stats.breaker);
  });

  it("clear and invalidation reject with E_CACHE_UNAVAILABLE instead of reporting work they did not do", async () => {
    const started = performance.now();
    await expect(cache.clear()).rejects.toMatchObject({ code: "E_CACHE_UNAVAILABLE" });
    await expect(cache.sweepInvalidated()).rejects.toMatchObject({ code: "E_CACHE_UNAVAILABLE" });
    await expect(cache.invalidateByTag("outage")).rejects.toMatchObject({ code: "E_CACHE_UNAVAILABLE" });
    expect(performance.now() - started).toBeLessThan(3 * boundMs);
  });
});
