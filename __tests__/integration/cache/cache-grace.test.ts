import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { FactoryHardTimeoutError, type SpyCache } from "../../../backend/src/cache/index.ts";
import { randomSnowflake } from "../../support/test-env.ts";
import { ageEntry, CacheKit, deferred, ready, testRedis } from "../../support/cache-test-kit.ts";

describe("grace: stale-while-revalidate, stale-if-error, refresh-ahead, soft and hard timeouts", () => {
  let kit: CacheKit;
  let cache: SpyCache;
  let raw: ReturnType<typeof testRedis>;
  const full = (key: string) => `${kit.prefix}:v1:${key}`;

  beforeAll(async () => {
    kit = new CacheKit("grace");
    raw = kit.track(testRedis());
    const connection = kit.track(testRedis());
    await Promise.all([ready(raw), ready(connection)]);
    cache = kit.cache({ redis: connection, grace: "1m" });
    await cache.ready();
  });
  afterAll(async () => kit?.close());

  /** An entry "old" whose fresh TTL ran out a second ago, still in grace. */
  async function staleEntry(tags: string[] = []): Promise<string> {
    const key = `grace:${randomSnowflake()}`;
    await cache.set(key, "old", { ttl: "1m", grace: "1m", tags });
    await ageEntry(raw, full(key), 61_000, 60_000);
    return key;
  }

  it("serves stale at once while exactly one background refresh runs, then serves the new value", async () => {
    const key = await staleEntry(["g"]);
    const gate = deferred();
    let runs = 0;
    const loader = async () => {
      runs += 1;
      await gate.promise;
      return "new";
    };
    const done = once(cache, "refresh:done");
    const first = await cache.rememberWithMeta(key, "1m", loader, { tags: ["g"] });
    const others = await Promise.all(
      Array.from({ length: 10 }, () => cache.rememberWithMeta(key, "1m", loader, { tags: ["g"] })),
    );
    expect(first).toMatchObject({ value: "old", status: "stale" });
    expect(first.staleBecauseOfError).toBeUndefined();
    expect(first.ageMs).toBeGreaterThanOrEqual(61_000);
    expect(others.every((r) => r.status === "stale" && r.value === "old")).toBe(true);
    gate.resolve();
    const [event] = await done;
    expect(event).toMatchObject({ key, reason: "stale", computedHere: true });
    expect(runs).toBe(1);
    expect(await cache.rememberWithMeta(key, "1m", loader, { tags: ["g"] })).toMatchObject({
      value: "new",
      status: "hit",
    });
  });

  it("a failing background refresh keeps the stale value and emits refresh:error", async () => {
    const key = await staleEntry();
    const failed = once(cache, "refresh:error");
    const result = await cache.rememberWithMeta(key, "1m", async () => Promise.reject(new Error("db down")));
    expect(result).toMatchObject({ value: "old", status: "stale" });
    const [event] = await failed;
    expect(event.error.message).toBe("db down");
    expect(await raw.exists(full(key))).toBe(1);
  });

  it("stale-if-error: without SWR, a failing loader serves the stale value and says so", async () => {
    const key = await staleEntry();
    const result = await cache.rememberWithMeta(key, "1m", async () => Promise.reject(new Error("db down")), {
      staleWhileRevalidate: false,
    });
    expect(result).toMatchObject({ value: "old", status: "stale", staleBecauseOfError: true });
  });

  it("without a stale value the loader's own error reaches the caller", async () => {
    const boom = new Error("db down");
    await expect(cache.remember(`grace:${randomSnowflake()}`, "1m", async () => Promise.reject(boom))).rejects.toBe(
      boom,
    );
  });

  it("soft timeout serves stale, and the loader still fills the cache when it finishes", async () => {
    const key = await staleEntry();
    const gate = deferred<string>();
    const started = performance.now();
    const result = await cache.rememberWithMeta(key, "1m", () => gate.promise, {
      staleWhileRevalidate: false,
      softTimeout: "30ms",
    });
    expect(result).toMatchObject({ value: "old", status: "stale", staleBecauseOfError: true });
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    gate.resolve("late but fine");
    await vi.waitFor(async () => expect(await cache.get(key)).toBe("late but fine"), { timeout: 2_000, interval: 10 });
  });

  it("hard timeout without a stale value fails with E_FACTORY_HARD_TIMEOUT and a cause", async () => {
    const gate = deferred<string>();
    const error = await cache
      .remember(`grace:${randomSnowflake()}`, "1m", () => gate.promise, { hardTimeout: "40ms" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FactoryHardTimeoutError);
    expect(error).toMatchObject({ code: "E_FACTORY_HARD_TIMEOUT", timeoutMs: 40 });
    expect((error as Error).cause).toBeInstanceOf(Error);
    gate.resolve("done");
  });

  it("hard timeout with a stale value serves it (stale-if-error)", async () => {
    const key = await staleEntry();
    const gate = deferred<string>();
    const result = await cache.rememberWithMeta(key, "1m", () => gate.promise, {
      staleWhileRevalidate: false,
      hardTimeout: "40ms",
    });
    expect(result).toMatchObject({ value: "old", status: "stale", staleBecauseOfError: true });
    gate.resolve("x");
  });

  it("refresh-ahead: a hit past 80% of the TTL refreshes in the background; before it, no refresh", async () => {
    const key = `ahead:${randomSnowflake()}`;
    await cache.set(key, "v1", { ttl: "1m" });
    let runs = 0;
    const loader = async () => `v${++runs + 1}`;
    await ageEntry(raw, full(key), 40_000, 60_000); // 67% of the TTL: no refresh yet
    expect(await cache.rememberWithMeta(key, "1m", loader)).toMatchObject({ value: "v1", status: "hit" });
    await ageEntry(raw, full(key), 50_000, 60_000); // 83%
    const done = once(cache, "refresh:done");
    expect(await cache.rememberWithMeta(key, "1m", loader)).toMatchObject({ value: "v1", status: "hit" });
    expect(await done).toEqual([expect.objectContaining({ key, reason: "ahead" })]);
    expect(runs).toBe(1);
    expect(await cache.rememberWithMeta(key, "1m", loader)).toMatchObject({
      value: "v2",
      status: "hit",
      ageMs: expect.any(Number),
    });
  });

  it("an expired entry past its grace is a plain miss", async () => {
    const key = `gone:${randomSnowflake()}`;
    await cache.set(key, "old", { ttl: "1m", grace: 0 });
    await ageEntry(raw, full(key), 61_000, 60_000);
    expect(await cache.rememberWithMeta(key, "1m", async () => "new")).toMatchObject({ value: "new", status: "miss" });
  });
});
