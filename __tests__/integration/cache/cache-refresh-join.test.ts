import { afterEach, describe, expect, it, vi } from "vitest";
import type { LockPort } from "../../../backend/src/cache/cache-ports.ts";
import { DistributedLock } from "../../../backend/src/cache/lock/distributed-lock.ts";
import { CacheKit, countingLoader, deferred, testRedis } from "../../support/cache-test-kit.ts";

/**
 * The two-instance race of issue 8: a caller that must recompute joins this process's background refresh, which
 * gives up because another instance holds the lock. The caller must then wait for that instance's result (or
 * compute), never receive the skipped refresh's `undefined`.
 */
describe("a caller joining a background refresh that is skipped (lock held by another instance)", () => {
  let kit: CacheKit;
  afterEach(async () => {
    await kit.close();
  });

  it("gets the other instance's value instead of failing", async () => {
    kit = new CacheKit("refresh-join");
    const redisA = kit.track(testRedis());
    // A's lock is the real one, held at a gate so the test decides when A's refresh learns the lock is busy.
    const realLock = new DistributedLock(redisA, { prefix: `${kit.prefix}:_sys:v1` }); // the prefix createCache gives its lock;
    const gate = deferred();
    let gated = false;
    const arrived: (() => void)[] = [];
    const lockService: LockPort = {
      async acquire(name, ttlMs, options) {
        if (gated) {
          for (const fn of arrived) fn();
          await gate.promise;
        }
        return realLock.acquire(name, ttlMs, options);
      },
    };
    // S = 0: after the soft bump the old entry is a miss for a reader, while the bump refreshes in the background.
    const a = kit.cache({ redis: redisA, lockService, softInvalidationStaleMs: 0 });
    const b = kit.cache({ softInvalidationStaleMs: 0 });
    await Promise.all([a.ready(), b.ready()]);
    const tags = ["guild:1"];
    const loaderA = countingLoader();
    expect(await a.rememberWithMeta("k", "1m", loaderA.load, { tags })).toMatchObject({
      status: "miss",
      value: { n: 1 },
    });

    gated = true;
    const refreshWaiting = new Promise<void>((resolve) => arrived.push(resolve));
    await b.invalidateByTags(tags, { mode: "soft" });
    await refreshWaiting; // A's background refresh now waits for the lock

    // B recomputes and holds the lock while its loader runs.
    const loaderB = countingLoader();
    const releaseB = deferred();
    loaderB.state.gate = releaseB.promise;
    const fromB = b.rememberWithMeta("k", "1m", async () => ({ n: 100 + (await loaderB.load()).n }), { tags });
    await vi.waitFor(() => expect(loaderB.state.calls).toBe(1), { timeout: 5_000, interval: 5 });

    // A's caller misses and joins A's refresh run (same key, same tag versions).
    const fromA = a.rememberWithMeta("k", "1m", loaderA.load, { tags });
    await redisA.ping(); // replies come in order: the caller's GET has been answered
    await new Promise((resolve) => setImmediate(resolve));
    gated = false;
    const skipped = new Promise((resolve) => a.once("refresh:skipped", resolve));
    gate.resolve(); // A's refresh learns the lock is busy and is skipped
    expect(await skipped).toMatchObject({ key: "k", reason: "soft" });

    releaseB.resolve();
    expect(await fromB).toMatchObject({ status: "miss", value: { n: 101 } });
    const resultA = await fromA;
    expect(resultA.value).toEqual({ n: 101 });
    expect(loaderA.state.calls).toBe(1);
  });
});
