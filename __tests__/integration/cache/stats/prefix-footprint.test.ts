import { type Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prefixFootprint } from "../../../../backend/src/cache/stats/prefix-footprint.ts";
import { startRedisCluster, type RedisClusterHandle } from "../../../support/redis-cluster.ts";
import { ThrowawayRedis } from "../../../support/redis-server.ts";
import { TEST_REDIS_URL, uniquePrefix } from "../../../support/test-env.ts";

/** Writes `count` keys `<prefix>:<i>` holding `bytes`-long strings, in parallel batches. */
async function fill(redis: Redis | Cluster, prefix: string, count: number, bytes: number): Promise<void> {
  const value = "x".repeat(bytes);
  for (let start = 0; start < count; start += 200) {
    const batch = Array.from({ length: Math.min(200, count - start) }, (_, i) =>
      redis.set(`${prefix}:${start + i}`, value, "EX", 600),
    );
    await Promise.all(batch);
  }
}

const deployments: Record<"single node" | "cluster", { open(): Promise<Redis | Cluster>; close(): Promise<void> }> = {
  "single node": (() => {
    let redis: Redis | undefined;
    return {
      async open() {
        redis = new Redis(TEST_REDIS_URL, { protocol: 2 });
        return redis;
      },
      async close() {
        await redis?.quit();
      },
    };
  })(),
  cluster: (() => {
    let cluster: RedisClusterHandle | undefined;
    return {
      async open() {
        // The default node timeout (5 s): no failover here, and a CPU-starved node is not mistaken for a dead one.
        cluster = await startRedisCluster();
        return cluster.client();
      },
      async close() {
        await cluster?.stop();
      },
    };
  })(),
};

describe.each(Object.keys(deployments) as (keyof typeof deployments)[])("prefixFootprint on a %s", (kind) => {
  let redis: Redis | Cluster;
  let exactBytes: number;
  const prefix = uniquePrefix("footprint");

  beforeAll(async () => {
    redis = await deployments[kind].open();
    await fill(redis, prefix, 600, 1_000);
    // Keys of another application that shares the prefix's first letters must not be counted.
    await fill(redis, `${prefix}x`, 50, 10);
  });

  afterAll(async () => {
    await deployments[kind].close();
  });

  it("counts and measures every key exactly when they fit in the sample", async () => {
    const footprint = await prefixFootprint(redis, prefix, { sample: 10_000 });
    exactBytes = footprint.memoryBytes;
    expect(footprint).toMatchObject({
      prefix,
      keys: 600,
      sampledKeys: 600,
      method: "exact",
      approximate: false,
      masters: kind === "cluster" ? 3 : 1,
    });
    // Each 1,000-byte string costs at least its bytes and less than twice that with the key and overhead.
    expect(footprint.memoryBytes).toBeGreaterThan(600 * 1_000);
    expect(footprint.memoryBytes).toBeLessThan(600 * 2_000);
  });

  it("samples above the sample size, says so, and extrapolates close to the exact figure", async () => {
    const footprint = await prefixFootprint(redis, prefix, { sample: 60, scanCount: 50 });
    expect(footprint.keys).toBe(600);
    expect(footprint.method).toBe("sampled");
    expect(footprint.approximate).toBe(true);
    expect(footprint.sampledKeys).toBeGreaterThanOrEqual(60);
    expect(footprint.sampledKeys).toBeLessThan(600);
    // Identical values: the extrapolation must land within a few percent of the exact measurement.
    expect(Math.abs(footprint.memoryBytes - exactBytes) / exactBytes).toBeLessThan(0.05);
  });

  it("reports evictions as server-wide figures with an approximate share for this prefix", async () => {
    const footprint = await prefixFootprint(redis, prefix, { sample: 0 });
    expect(footprint.memoryBytes).toBe(0);
    expect(footprint.evictions.approximate).toBe(true);
    expect(footprint.evictions.estimatedAppEvictedKeys).toBeLessThanOrEqual(footprint.evictions.serverEvictedKeys);
    expect(typeof footprint.evictions.maxmemoryPolicy).toBe("string");
  });
});

describe("prefixFootprint evictions on a Redis that evicts", () => {
  let server: ThrowawayRedis;
  let redis: Redis;

  beforeAll(async () => {
    server = await ThrowawayRedis.start();
    redis = new Redis(server.url, { protocol: 2 });
  });

  afterAll(async () => {
    await redis?.quit();
    await server?.kill();
  });

  it("sees the server's evictions and attributes a share proportional to this prefix's keys", async () => {
    const prefix = uniquePrefix("evict");
    const other = uniquePrefix("evict-other");
    await redis.config("SET", "maxmemory-policy", "allkeys-random");
    await redis.config("SET", "maxmemory", String(4 * 1024 * 1024));
    // Twice as many keys of another application, both filled past the memory limit: evictions follow.
    for (let round = 0; round < 10; round += 1) {
      await fill(redis, `${prefix}:r${round}`, 300, 1_000);
      await fill(redis, `${other}:r${round}`, 600, 1_000);
    }
    // Redis keeps evicting in the background after an over-limit write; lifting the limit freezes the figures.
    await redis.config("SET", "maxmemory", "0");
    const footprint = await prefixFootprint(redis, prefix, { sample: 0 });
    const otherFootprint = await prefixFootprint(redis, other, { sample: 0 });
    expect(footprint.evictions.maxmemoryPolicy).toBe("allkeys-random");
    expect(footprint.evictions.serverEvictedKeys).toBeGreaterThan(1_000);
    const share = footprint.keys / (footprint.keys + otherFootprint.keys);
    expect(footprint.evictions.estimatedAppEvictedKeys).toBe(Math.round(footprint.evictions.serverEvictedKeys * share));
    expect(footprint.evictions.estimatedAppEvictedKeys).toBeLessThan(footprint.evictions.serverEvictedKeys);
  });
});
