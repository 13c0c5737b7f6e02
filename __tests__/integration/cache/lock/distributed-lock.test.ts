import { type Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DistributedLock } from "../../../../backend/src/cache/lock/distributed-lock.ts";
import { LockNotAcquiredError } from "../../../../backend/src/cache/transport/resilience-errors.ts";
import { startRedisCluster, type RedisClusterHandle } from "../../../support/redis-cluster.ts";
import { TEST_REDIS_URL, uniquePrefix } from "../../../support/test-env.ts";

/** Two independent connections to one Redis deployment: two "processes" contending for locks. */
interface Deployment {
  a: Redis | Cluster;
  b: Redis | Cluster;
}

const deployments: Record<"single node" | "cluster", { open(): Promise<Deployment>; close(): Promise<void> }> = {
  "single node": (() => {
    const opened: Redis[] = [];
    return {
      async open() {
        const [a, b] = [new Redis(TEST_REDIS_URL, { protocol: 2 }), new Redis(TEST_REDIS_URL, { protocol: 2 })];
        opened.push(a, b);
        return { a, b };
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
        return { a: cluster.client(), b: cluster.client() };
      },
      async close() {
        await cluster?.stop();
      },
    };
  })(),
};

describe.each(Object.keys(deployments) as (keyof typeof deployments)[])("DistributedLock on a %s", (kind) => {
  let a: Redis | Cluster;
  let b: Redis | Cluster;
  let prefix: string;
  let lockA: DistributedLock;
  let lockB: DistributedLock;

  beforeAll(async () => {
    ({ a, b } = await deployments[kind].open());
    prefix = uniquePrefix("lock");
    lockA = new DistributedLock(a, { prefix });
    lockB = new DistributedLock(b, { prefix });
  });

  afterAll(async () => {
    await deployments[kind].close();
  });

  it("lets one holder at a time into a critical section, across two connections and many contenders", async () => {
    const counterKey = `${prefix}:counter`;
    await a.set(counterKey, "0");
    let inside = 0;
    let maxInside = 0;
    const contenders = Array.from({ length: 24 }, (_, i) => {
      const [lock, redis] = i % 2 === 0 ? [lockA, a] : [lockB, b];
      return lock.withLock(
        "exclusive",
        5_000,
        async () => {
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          // A non-atomic read-modify-write over the network: without mutual exclusion, increments get lost.
          const value = Number(await redis.get(counterKey));
          await redis.set(counterKey, String(value + 1));
          inside -= 1;
        },
        { retries: 200, retryDelayMs: 5, maxRetryDelayMs: 20 },
      );
    });
    await Promise.all(contenders);
    expect(maxInside).toBe(1);
    expect(await a.get(counterKey)).toBe("24");
    expect(await lockA.isLocked("exclusive")).toBe(false);
  });

  it("stores the lock at <prefix>:lock:<name> with a token and a TTL, and refuses a second holder", async () => {
    const lock = await lockA.acquire("single", 10_000, { retries: 0 });
    expect(lock).not.toBeNull();
    expect(lock!.key).toBe(`${prefix}:lock:single`);
    expect(await a.get(lock!.key)).toBe(lock!.token);
    const pttl = await a.pttl(lock!.key);
    expect(pttl).toBeGreaterThan(9_000);
    expect(pttl).toBeLessThanOrEqual(10_000);
    expect(await lockB.acquire("single", 10_000, { retries: 2, retryDelayMs: 1 })).toBeNull();
    expect(await lock!.release()).toBe(true);
    expect(await lock!.release()).toBe(false);
    expect(await a.exists(lock!.key)).toBe(0);
  });

  it("refuses release and extend by a holder whose lock expired and was taken by another", async () => {
    const first = (await lockA.acquire("taken-over", 10_000))!;
    // Expire it now instead of waiting: the effect of a holder stalling past its TTL.
    await a.pexpire(first.key, 1);
    const second = await lockB.acquire("taken-over", 10_000, { retries: 50, retryDelayMs: 2, maxRetryDelayMs: 10 });
    expect(second).not.toBeNull();
    expect(await first.extend(10_000)).toBe(false);
    expect(await first.release()).toBe(false);
    expect(first.signal.aborted).toBe(true);
    expect(await a.get(second!.key)).toBe(second!.token);
    expect(await second!.release()).toBe(true);
  });

  it("expires by its TTL so a crashed holder cannot block others forever", async () => {
    const ttlMs = 300;
    // Timed from before the SET, so a slow reply cannot make the wait look shorter than the TTL.
    const start = Date.now();
    const crashed = (await lockA.acquire("expiry", ttlMs))!;
    const next = await lockB.acquire("expiry", 5_000, { retries: 100, retryDelayMs: 20, maxRetryDelayMs: 40 });
    const waited = Date.now() - start;
    expect(next).not.toBeNull();
    expect(next!.token).not.toBe(crashed.token);
    // Redis expires keys at millisecond precision: allow a little rounding below the TTL.
    expect(waited).toBeGreaterThanOrEqual(ttlMs - 5);
    await next!.release();
  });

  it("extends the TTL for its owner", async () => {
    const lock = (await lockA.acquire("extend", 1_000))!;
    expect(await lock.extend(60_000)).toBe(true);
    expect(await a.pttl(lock.key)).toBeGreaterThan(50_000);
    await lock.release();
  });

  it("withLock releases on throw and passes the error through; throws E_LOCK_NOT_ACQUIRED when held", async () => {
    const failure = new Error("work failed");
    await expect(lockA.withLock("throws", 10_000, async () => Promise.reject(failure))).rejects.toBe(failure);
    expect(await lockA.isLocked("throws")).toBe(false);

    const holder = (await lockB.acquire("busy", 10_000))!;
    let ran = false;
    const refused = await lockA
      .withLock(
        "busy",
        10_000,
        async () => {
          ran = true;
        },
        { retries: 1, retryDelayMs: 1 },
      )
      .catch((error: unknown) => error);
    expect(ran).toBe(false);
    expect(refused).toBeInstanceOf(LockNotAcquiredError);
    expect((refused as LockNotAcquiredError).code).toBe("E_LOCK_NOT_ACQUIRED");
    await holder.release();
  });

  it("withLock keeps extending the lock while the work outlives the TTL", async () => {
    // Extended every 200 ms: a 400 ms margin keeps a loaded machine from losing the lock between extensions.
    const ttlMs = 600;
    const observed = await lockA.withLock("long-work", ttlMs, async (lock) => {
      const started = Date.now();
      let checks = 0;
      // The work itself: outlive three TTLs while checking, with real round trips, that the lock stays ours.
      while (Date.now() - started < ttlMs * 3) {
        expect(await b.get(lock.key)).toBe(lock.token);
        checks += 1;
        // Simulated work that takes time (there is no event to await: the point is that time passes).
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return { checks, lost: lock.signal.aborted };
    });
    expect(observed.checks).toBeGreaterThan(10);
    expect(observed.lost).toBe(false);
    expect(await lockA.isLocked("long-work")).toBe(false);
  });

  it("counts active locks under its prefix only, on every master", async () => {
    const other = new DistributedLock(a, { prefix: uniquePrefix("lock-other") });
    const names = Array.from({ length: 12 }, (_, i) => `count-${i}`);
    const held = await Promise.all(names.map((name) => lockA.acquire(name, 10_000)));
    const foreign = await other.acquire("count-0", 10_000);
    expect(await lockB.activeCount()).toBe(12);
    await held[0]!.release();
    expect(await lockA.activeCount()).toBe(11);
    await Promise.all([...held.slice(1), foreign].map((lock) => lock!.release()));
    expect(await lockA.activeCount()).toBe(0);
  });

  it("stops waiting when its signal aborts", async () => {
    const holder = (await lockA.acquire("abort", 10_000))!;
    const controller = new AbortController();
    const waiting = lockB.acquire("abort", 10_000, { retries: 1_000, retryDelayMs: 10, signal: controller.signal });
    controller.abort(new Error("caller gave up"));
    await expect(waiting).rejects.toThrow("caller gave up");
    await holder.release();
  });
});
