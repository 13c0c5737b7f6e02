import { afterEach, describe, expect, it, vi } from "vitest";
import { Redis } from "ioredis";
import { KeyBuilder, type SpyCache } from "../../../backend/src/cache/index.ts";
import { TEST_REDIS_URL } from "../../support/test-env.ts";
import { CacheKit, countingLoader, deferred, testRedis } from "../../support/cache-test-kit.ts";

/** Resolves with the next "refresh:done" or "refresh:error" of `cache` for `key`. */
function nextRefresh(cache: SpyCache, key: string): Promise<string> {
  return new Promise((resolve) => {
    const onDone = (event: { key: string }) => {
      if (event.key !== key) return;
      cache.off("refresh:done", onDone);
      cache.off("refresh:error", onError);
      resolve("done");
    };
    const onError = (event: { key: string }) => {
      if (event.key !== key) return;
      cache.off("refresh:done", onDone);
      cache.off("refresh:error", onError);
      resolve("error");
    };
    cache.on("refresh:done", onDone);
    cache.on("refresh:error", onError);
  });
}

/** Waits until `ms` of monotonic time have passed since `since` (the bound S under test is itself a duration). */
async function waitPast(since: number, ms: number): Promise<void> {
  await vi.waitFor(() => expect(performance.now() - since).toBeGreaterThan(ms), { timeout: ms + 5_000, interval: 10 });
}

describe.each([
  { label: "L2 only", l1: false as const },
  { label: "with L1", l1: { maxEntries: 100 } },
])("soft tag invalidation ($label)", ({ l1 }) => {
  let kit: CacheKit;
  afterEach(async () => {
    await kit.close();
  });

  it("within S: the old value is served stale at once, exactly one loader runs in the background, then fresh", async () => {
    kit = new CacheKit("soft-within");
    const cache = kit.cache({ refreshOnSoftInvalidation: false, l1, softInvalidationStaleMs: 5_000 });
    await cache.ready();
    const { state, load } = countingLoader();
    const read = () => cache.rememberWithMeta("k", "1m", load, { tags: ["guild:1"] });
    expect((await read()).status).toBe("miss");
    expect(await read()).toMatchObject({ status: "hit", value: { n: 1 } });

    await cache.invalidateByTags(["guild:1"], { mode: "soft" });
    const gate = deferred();
    state.gate = gate.promise;
    const refreshed = nextRefresh(cache, "k");
    const during = await Promise.all([read(), read(), read()]);
    for (const result of during) expect(result).toMatchObject({ status: "stale", value: { n: 1 } });
    await vi.waitFor(() => expect(state.calls).toBe(2), { timeout: 5_000, interval: 5 });
    expect(await read()).toMatchObject({ status: "stale", value: { n: 1 } });
    expect(state.calls).toBe(2); // one background run for every stale read
    gate.resolve();
    expect(await refreshed).toBe("done");
    expect(await read()).toMatchObject({ status: "hit", value: { n: 2 } });
    expect(state.calls).toBe(2);
  });

  it("past S: the softly invalidated entry is a miss and the loader runs in the call", async () => {
    kit = new CacheKit("soft-past");
    const cache = kit.cache({ refreshOnSoftInvalidation: false, l1, softInvalidationStaleMs: 150 });
    await cache.ready();
    const { state, load } = countingLoader();
    const read = () => cache.rememberWithMeta("k", "1m", load, { tags: ["guild:1"] });
    await read();
    const invalidatedAt = performance.now();
    await cache.invalidateByTag("guild:1", { mode: "soft" });
    await waitPast(invalidatedAt, 200);
    expect(await read()).toMatchObject({ status: "miss", value: { n: 2 } });
    expect(state.calls).toBe(2);
  });

  it("hard wins: a hard invalidation after (or before) a soft one makes the entry a miss even within S", async () => {
    kit = new CacheKit("soft-hard");
    const cache = kit.cache({ refreshOnSoftInvalidation: false, l1, softInvalidationStaleMs: 60_000 });
    await cache.ready();
    const { state, load } = countingLoader();
    const read = () => cache.rememberWithMeta("k", "1m", load, { tags: ["guild:1", "guild:1:roles"] });
    await read();
    await cache.invalidateByTags(["guild:1"], { mode: "soft" });
    await cache.invalidateByTags(["guild:1"]);
    expect(await read()).toMatchObject({ status: "miss", value: { n: 2 } });

    // Hard on one tag, soft on another: still gone.
    await cache.invalidateByTag("guild:1:roles");
    await cache.invalidateByTag("guild:1", { mode: "soft" });
    expect(await read()).toMatchObject({ status: "miss", value: { n: 3 } });

    // Two soft bumps the entry missed: the older one cannot be timed, so it is a miss too.
    await cache.invalidateByTag("guild:1", { mode: "soft" });
    await cache.invalidateByTag("guild:1", { mode: "soft" });
    expect(await read()).toMatchObject({ status: "miss", value: { n: 4 } });
    expect(state.calls).toBe(4);
  });

  it("a soft invalidation made by another instance is applied through the bus with the same rule", async () => {
    kit = new CacheKit("soft-bus");
    const a = kit.cache({ refreshOnSoftInvalidation: false, l1, softInvalidationStaleMs: 5_000 });
    const b = kit.cache({ refreshOnSoftInvalidation: false, l1, softInvalidationStaleMs: 5_000 });
    await Promise.all([a.ready(), b.ready()]);
    const { state, load } = countingLoader();
    const readB = () => b.rememberWithMeta("k", "1m", load, { tags: ["guild:1"] });
    expect((await readB()).status).toBe("miss");
    expect((await readB()).status).toBe("hit");

    // Resolves once B acknowledged it.
    await a.invalidateByTags(["guild:1"], { mode: "soft" });
    const refreshed = nextRefresh(b, "k");
    expect(await readB()).toMatchObject({ status: "stale", value: { n: 1 } });
    expect(await refreshed).toBe("done");
    expect(state.calls).toBe(2);
    expect(await readB()).toMatchObject({ status: "hit", value: { n: 2 } });
    // A hard one from A after that is a miss in B at once.
    await a.invalidateByTag("guild:1");
    expect(await readB()).toMatchObject({ status: "miss", value: { n: 3 } });
  });

  it("an instance whose tag map is no longer trusted treats a soft invalidation it received as a miss", async () => {
    kit = new CacheKit("soft-untrusted");
    const a = kit.cache({ refreshOnSoftInvalidation: false, l1, softInvalidationStaleMs: 60_000 });
    const subscriber = kit.track(new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }));
    subscriber.on("error", () => undefined);
    const b = kit.cache({
      refreshOnSoftInvalidation: false,
      l1,
      softInvalidationStaleMs: 60_000,
      subscriber,
      invalidationWindowMs: 200,
    });
    await Promise.all([a.ready(), b.ready()]);
    const { state, load } = countingLoader();
    const readB = () => b.rememberWithMeta("k", "1m", load, { tags: ["guild:1"] });
    await readB();
    await a.invalidateByTags(["guild:1"], { mode: "soft" });
    // B learned of it (it acknowledged), then loses its bus: its map stops being trusted W/2 after its last ping.
    subscriber.disconnect();
    await vi.waitFor(() => expect(b.trusted).toBe(false), { timeout: 5_000, interval: 10 });
    expect(await readB()).toMatchObject({ status: "miss", value: { n: 2 } });
    expect(state.calls).toBe(2);
  });
});

describe("soft tag invalidation of an L1 copy", () => {
  let kit: CacheKit;
  afterEach(async () => {
    await kit.close();
  });

  it("the L1 copy alone is served stale within S (the Redis bytes are gone) and a miss past S", async () => {
    kit = new CacheKit("soft-l1");
    const raw = kit.track(testRedis());
    const cache = kit.cache({
      refreshOnSoftInvalidation: false,
      l1: { maxEntries: 100 },
      softInvalidationStaleMs: 300,
    });
    await cache.ready();
    let calls = 0;
    const load = async () => ({ n: ++calls });
    const gate = deferred();
    const gated = async () => {
      await gate.promise;
      return load();
    };
    // A fresh instance's first invalidations may wait until W/2 after it began hearing the bus (docs/cache.md, rule
    // 4c), which would eat into S below: let one resolve first.
    await cache.invalidateByTag("guild:warm-up");
    await cache.rememberWithMeta("k", "1m", load, { tags: ["guild:1"] });
    // Behind the cache's back (no announcement): only the L1 copy can still answer.
    const invalidatedAt = performance.now();
    await cache.invalidateByTag("guild:1", { mode: "soft" });
    expect(await raw.unlink(new KeyBuilder({ prefix: kit.prefix, version: "v1", maxKeyLength: 250 }).entry("k"))).toBe(
      1,
    );
    expect(await cache.rememberWithMeta("k", "1m", gated, { tags: ["guild:1"] })).toMatchObject({
      status: "stale",
      value: { n: 1 },
    });
    await waitPast(invalidatedAt, 350);
    gate.resolve();
    await vi.waitFor(() => expect(calls).toBe(2), { timeout: 5_000, interval: 10 });
    // The refresh may have written n=2 by now; make the copy old again with another soft bump and wait past S.
    const again = performance.now();
    await cache.invalidateByTag("guild:1", { mode: "soft" });
    await waitPast(again, 350);
    expect(await cache.rememberWithMeta("k", "1m", load, { tags: ["guild:1"] })).toMatchObject({
      status: "miss",
      value: { n: 3 },
    });
  });
});
