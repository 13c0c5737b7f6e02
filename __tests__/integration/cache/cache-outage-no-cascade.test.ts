import { afterEach, describe, expect, it, vi } from "vitest";
import type { SpyCache } from "../../../backend/src/cache/index.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { CacheKit, deferred, ready, testRedis } from "../../support/cache-test-kit.ts";

/** Calls `remember` until the breaker is open (Redis out), so the next calls take the bypass path. */
async function openBreaker(cache: SpyCache): Promise<void> {
  await vi.waitFor(
    async () => {
      await cache.rememberWithMeta(`probe:${Math.random()}`, "1m", async () => 0).catch(() => undefined);
      expect(cache.getLocalStats().breaker.state).toBe("open");
    },
    { timeout: 10_000, interval: 10 },
  );
}

/** Milliseconds from now until `remember` of `key` answers from Redis again (status "hit"). */
async function msUntilHit(cache: SpyCache, key: string, loader: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await vi.waitFor(
    async () => {
      const result = await cache.rememberWithMeta(key, "1m", loader, { tags: ["g"] });
      expect(result.status).toBe("hit");
    },
    { timeout: 15_000, interval: 20 },
  );
  return performance.now() - started;
}

describe.each([
  { fault: "killed", cut: (s: ThrowawayRedis) => s.kill(), heal: (s: ThrowawayRedis) => s.resume() },
  { fault: "frozen", cut: async (s: ThrowawayRedis) => s.freeze(), heal: async (s: ThrowawayRedis) => s.thaw() },
])("Redis $fault: no cascade onto the loader, prompt recovery", ({ cut, heal }) => {
  let server: ThrowawayRedis;
  let kit: CacheKit;
  afterEach(async () => {
    server.thaw();
    await kit.close();
    await server.kill();
  });

  it("identical loads share one run, L1 copies are served, and hits are back within 2 s of Redis answering after a long outage", async () => {
    server = await ThrowawayRedis.start();
    kit = new CacheKit("no-cascade");
    const connection = kit.track(testRedis(server.url));
    await ready(connection);
    // The service's breaker settings: first wait 1 s, doubling to 10 s while the outage lasts.
    const cache = kit.cache({
      redis: connection,
      l1: { maxEntries: 100 },
      breaker: { failureThreshold: 5, recoveryTimeoutMs: 10_000 },
    });
    await cache.ready();
    let loads = 0;
    const loader = async () => ++loads;
    expect((await cache.rememberWithMeta("held", "1m", loader, { tags: ["g"] })).status).toBe("miss");
    // Stored before the outage: a "hit" on it needs Redis answering and the breaker closed again.
    await cache.set("cold-stored", "v", { ttl: "1m", tags: ["g"] });

    await cut(server);
    await openBreaker(cache);

    // The L1 copy is served (stale: its tags cannot be checked) instead of running the loader.
    const before = loads;
    expect(await cache.rememberWithMeta("held", "1m", loader, { tags: ["g"] })).toMatchObject({
      status: "stale",
      value: 1,
      staleBecauseOfError: true,
    });
    expect(loads).toBe(before);

    // 50 concurrent callers of one key not held: one loader run, every caller gets its value.
    const gate = deferred();
    let runs = 0;
    const slow = async () => {
      runs += 1;
      await gate.promise;
      return "computed";
    };
    const callers = Array.from({ length: 50 }, () => cache.rememberWithMeta("cold", "1m", slow, { tags: ["g"] }));
    gate.resolve();
    const results = await Promise.all(callers);
    expect(runs).toBe(1);
    for (const result of results) expect(result).toMatchObject({ status: "bypass", value: "computed" });

    // Let the recovery wait grow as it does in a long outage (trials fail while Redis is out).
    await vi.waitFor(
      async () => {
        await cache.rememberWithMeta(`traffic:${Math.random()}`, "1m", async () => 0);
        expect(cache.getLocalStats().breaker.recoveryWaitMs).toBeGreaterThanOrEqual(4_000);
      },
      { timeout: 15_000, interval: 50 },
    );

    await heal(server);
    // From Redis answering again (a killed server has restarted and answers PING) to the first hit from Redis.
    const recoveredMs = await msUntilHit(cache, "cold-stored", async () => "v").catch(async () => Number.NaN);
    expect(recoveredMs).toBeLessThan(2_000);
  });
});
