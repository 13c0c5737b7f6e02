import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { SpyCache } from "../../../backend/src/cache/index.ts";
import { randomSnowflake } from "../../support/test-env.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { CacheKit, deferred, ready, testRedis } from "../../support/cache-test-kit.ts";

/** Calls of one command since the last CONFIG RESETSTAT, counted by the server itself. */
async function commandCalls(redis: ReturnType<typeof testRedis>, command: string): Promise<number> {
  const info = await redis.info("commandstats");
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

describe("stampede protection and the L1 tier (own redis-server, so the server can count commands)", () => {
  let server: ThrowawayRedis;
  let kit: CacheKit;
  let raw: ReturnType<typeof testRedis>;

  const connected = async () => {
    const connection = kit.track(testRedis(server.url));
    await ready(connection);
    return connection;
  };
  const newCache = async (options: Parameters<CacheKit["cache"]>[0] = {}) => {
    const cache = kit.cache({ redis: await connected(), ...options });
    await cache.ready();
    return cache;
  };

  beforeAll(async () => {
    server = await ThrowawayRedis.start();
    kit = new CacheKit("stampede");
    raw = await connected();
  });
  afterAll(async () => {
    await kit?.close();
    await server?.kill();
  });

  it("50 concurrent hits of one key share ONE Redis GET", async () => {
    const cache = await newCache();
    const key = `hot:${randomSnowflake()}`;
    await cache.set(key, { big: "x".repeat(1000) }, { tags: ["guild:1"] });
    await raw.config("RESETSTAT");
    const loader = vi.fn(async () => ({ big: "never" }));
    const results = await Promise.all(
      Array.from({ length: 50 }, () => cache.rememberWithMeta(key, "1m", loader, { tags: ["guild:1"] })),
    );
    expect(results.every((r) => r.status === "hit")).toBe(true);
    expect(loader).not.toHaveBeenCalled();
    expect(await commandCalls(raw, "get")).toBe(1);
  });

  it("50 concurrent callers of a cold key: one loader run and at most three GETs (read, re-check under the lock, the lock release script's token check)", async () => {
    const cache = await newCache();
    const key = `cold:${randomSnowflake()}`;
    await raw.config("RESETSTAT");
    let runs = 0;
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        cache.remember(key, "1m", async () => {
          runs += 1;
          return runs;
        }),
      ),
    );
    expect(runs).toBe(1);
    expect(new Set(results)).toEqual(new Set([1]));
    // Redis counts a GET run inside a script too: the lock's release reads its token (and may finish before this
    // count, now that ioredis sends a script by EVAL on first use instead of waiting for a NOSCRIPT round trip).
    expect(await commandCalls(raw, "get")).toBeLessThanOrEqual(3);
  });

  it("across instances the lock lets one compute; the other is woken by the 'filled' message, not by polling", async () => {
    // A 10 s poll interval: only the bus message can wake the waiter in time.
    const a = await newCache({ lockPollMs: 10_000 });
    const b = await newCache({ lockPollMs: 10_000 });
    const key = `shared:${randomSnowflake()}`;
    const gate = deferred();
    let runs = 0;
    const loader = async () => {
      runs += 1;
      await gate.promise;
      return "computed once";
    };
    const fromA = a.rememberWithMeta(key, "1m", loader);
    await vi.waitFor(() => expect(runs).toBe(1), { interval: 2 });
    const started = performance.now();
    const fromB = Promise.all(Array.from({ length: 20 }, () => b.rememberWithMeta(key, "1m", loader)));
    gate.resolve();
    const [resultA, resultsB] = await Promise.all([fromA, fromB]);
    expect(runs).toBe(1);
    expect(resultA.status).toBe("miss");
    expect(resultsB.every((r) => r.value === "computed once" && r.status === "hit")).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it("a waiter whose peer never delivers computes itself after lockWaitMs", async () => {
    const a = await newCache();
    const b = await newCache({ lockWaitMs: 150 });
    const key = `stuck:${randomSnowflake()}`;
    const gate = deferred<string>();
    const fromA = a.remember(key, "1m", () => gate.promise);
    await vi.waitFor(async () => expect(await raw.exists(`${kit.prefix}:_sys:v1:lock:${key}`)).toBe(1), {
      interval: 5,
    });
    const started = performance.now();
    expect(await b.rememberWithMeta(key, "1m", async () => "b computed")).toMatchObject({
      value: "b computed",
      status: "miss",
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    gate.resolve("a computed");
    expect(await fromA).toBe("a computed");
  });

  describe("L1", () => {
    let a: SpyCache;
    let b: SpyCache;
    beforeAll(async () => {
      a = await newCache({ l1: { maxEntries: 100 } });
      b = await newCache({ l1: { maxEntries: 100 } });
    });

    it("a hit from L1 costs no Redis command", async () => {
      const key = `l1:${randomSnowflake()}`;
      await a.set(key, { n: 1 }, { tags: ["l1tag"] });
      await raw.config("RESETSTAT");
      for (let i = 0; i < 20; i += 1)
        expect(await a.remember(key, "1m", async () => ({ n: 0 }), { tags: ["l1tag"] })).toEqual({ n: 1 });
      expect(await commandCalls(raw, "get")).toBe(0);
      expect((await a.getStats({ includeKeyspace: false })).instance.hits.l1).toBeGreaterThanOrEqual(20);
    });

    it("tag invalidation on one instance empties the other's L1 before it resolves", async () => {
      const key = `l1:${randomSnowflake()}`;
      const tag = `guild:${randomSnowflake()}`;
      await b.set(key, "old", { tags: [tag] });
      expect(await b.get(key)).toBe("old");
      expect(await a.get(key)).toBe("old");
      await a.invalidateByTag(tag);
      expect(await b.get(key)).toBeUndefined();
      expect(await b.remember(key, "1m", async () => "new", { tags: [tag] })).toBe("new");
    });

    it("set and delete on one instance reach the other's L1 within the trust window (W/2 = 250 ms, plus scheduling slack)", async () => {
      const key = `l1:${randomSnowflake()}`;
      await a.set(key, "v1");
      expect(await b.get(key)).toBe("v1");
      const started = performance.now();
      await a.set(key, "v2");
      await vi.waitFor(async () => expect(await b.get(key)).toBe("v2"), { interval: 1, timeout: 1_000 });
      expect(performance.now() - started).toBeLessThan(500);
      await a.delete(key);
      await vi.waitFor(async () => expect(await b.get(key)).toBeUndefined(), { interval: 1, timeout: 1_000 });
    });
  });
});
