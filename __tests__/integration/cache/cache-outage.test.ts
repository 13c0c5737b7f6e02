import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CacheUnavailableError, type SpyCache } from "../../../backend/src/cache/index.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { randomSnowflake } from "../../support/test-env.ts";
import { CacheKit, ready, testRedis } from "../../support/cache-test-kit.ts";

const COMMAND_TIMEOUT_MS = 250;

describe("fail-open: Redis killed and restarted during a run", () => {
  let server: ThrowawayRedis;
  let kit: CacheKit;
  let cache: SpyCache;

  beforeAll(async () => {
    server = await ThrowawayRedis.start();
    kit = new CacheKit("outage");
    const connection = kit.track(testRedis(server.url));
    await ready(connection);
    cache = kit.cache({
      redis: connection,
      breaker: { failureThreshold: 3, recoveryTimeoutMs: 300, halfOpenMaxCalls: 1 },
    });
    await cache.ready();
  });
  afterAll(async () => {
    await kit?.close();
    await server?.kill();
  });

  it("no call fails or waits past the command timeout; the breaker opens; the loader runs directly; it recovers", async () => {
    const key = `outage:${randomSnowflake()}`;
    let runs = 0;
    const loader = async () => ++runs;
    expect((await cache.rememberWithMeta(key, "1m", loader, { tags: ["g"] })).status).toBe("miss");
    expect((await cache.rememberWithMeta(key, "1m", loader, { tags: ["g"] })).status).toBe("hit");

    await server.kill();
    const slowest = { ms: 0 };
    const timed = async <T>(fn: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      try {
        return await fn();
      } finally {
        slowest.ms = Math.max(slowest.ms, performance.now() - started);
      }
    };
    for (let i = 0; i < 20; i += 1) {
      const result = await timed(() => cache.rememberWithMeta(`${key}:${i}`, "1m", loader, { tags: ["g"] }));
      expect(result.status).toBe("bypass");
      expect(result.value).toBe(runs);
    }
    expect(await timed(() => cache.get(key))).toBeUndefined();
    await timed(() => cache.set(key, "ignored"));
    expect(await timed(() => cache.delete(key))).toBe(false);
    await expect(timed(() => cache.invalidateByTag("g"))).rejects.toBeInstanceOf(CacheUnavailableError);
    expect(slowest.ms).toBeLessThan(COMMAND_TIMEOUT_MS + 100);

    const stats = await cache.getStats();
    expect(stats.breaker.opens).toBeGreaterThanOrEqual(1);
    expect(stats.instance.bypasses).toBeGreaterThanOrEqual(20);
    expect(stats.fleet).toBeNull();
    // With the breaker open a call adds well under a millisecond on top of the loader.
    const openStarted = performance.now();
    for (let i = 0; i < 100; i += 1) await cache.remember(`${key}:open`, "1m", async () => 0);
    expect((performance.now() - openStarted) / 100).toBeLessThan(1);
    await vi.waitFor(() => expect(cache.trusted).toBe(false), { timeout: 2_000, interval: 10 });

    await server.resume();
    await vi.waitFor(
      async () => expect((await cache.rememberWithMeta(`${key}:back`, "1m", loader)).status).not.toBe("bypass"),
      { timeout: 10_000, interval: 50 },
    );
    expect((await cache.rememberWithMeta(`${key}:back`, "1m", loader)).status).toBe("hit");
    await cache.ready();
    // The restarted Redis lost every tag version: an entry tagged now is valid, then invalidation works again.
    await cache.set(`${key}:after`, "v", { tags: ["g"] });
    expect(await cache.get(`${key}:after`)).toBe("v");
    await cache.invalidateByTag("g");
    expect(await cache.get(`${key}:after`)).toBeUndefined();
  });
});
