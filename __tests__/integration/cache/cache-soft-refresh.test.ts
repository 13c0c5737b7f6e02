import { afterEach, describe, expect, it, vi } from "vitest";
import type { SpyCache } from "../../../backend/src/cache/index.ts";
import { CacheKit, countingLoader, deferred } from "../../support/cache-test-kit.ts";

type RefreshEvent = { kind: "done" | "skipped" | "error"; key: string; reason: string; computedHere?: boolean };

/** Resolves with the next refresh event ("refresh:done" / "skipped" / "error") of `cache` for `key`, or rejects after `ms`. */
function nextRefresh(cache: SpyCache, key: string, ms = 5_000): Promise<RefreshEvent> {
  return new Promise((resolve, reject) => {
    const listeners = (["done", "skipped", "error"] as const).map((kind) => {
      const listener = (event: Omit<RefreshEvent, "kind">) => {
        if (event.key !== key) return;
        finish();
        resolve({ kind, ...event });
      };
      cache.on(`refresh:${kind}`, listener);
      return [`refresh:${kind}`, listener] as const;
    });
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`no refresh event for ${key} within ${ms} ms`));
    }, ms);
    function finish() {
      clearTimeout(timer);
      for (const [name, listener] of listeners) cache.off(name, listener);
    }
  });
}

/** Every refresh event of `cache` from now on (to show that none came for a key). */
function recordRefreshes(cache: SpyCache): string[] {
  const keys: string[] = [];
  for (const kind of ["done", "skipped", "error"])
    cache.on(`refresh:${kind}`, (event: { key: string }) => keys.push(event.key));
  return keys;
}

describe.each([
  { label: "L2 only", l1: false as const },
  { label: "with L1", l1: { maxEntries: 100 } },
])("refresh on soft invalidation ($label)", ({ l1 }) => {
  let kit: CacheKit;
  afterEach(async () => {
    await kit.close();
  });

  it("with no reader, the loader runs once in the background at the bump and the next read is a HIT with the new value", async () => {
    kit = new CacheKit("soft-refresh-alone");
    const cache = kit.cache({ l1, softInvalidationStaleMs: 60_000 });
    await cache.ready();
    const { state, load } = countingLoader();
    const read = () => cache.rememberWithMeta("k", "1m", load, { tags: ["guild:1"] });
    expect(await read()).toMatchObject({ status: "miss", value: { n: 1 } });

    const refreshed = nextRefresh(cache, "k");
    await cache.invalidateByTags(["guild:1"], { mode: "soft" });
    expect(await refreshed).toMatchObject({ kind: "done", reason: "soft", computedHere: true });
    expect(state.calls).toBe(2);
    expect(await read()).toMatchObject({ status: "hit", value: { n: 2 } });
    expect(state.calls).toBe(2);
  });

  it("a reader during the refresh gets the stale value and starts no second run", async () => {
    kit = new CacheKit("soft-refresh-reader");
    const cache = kit.cache({ l1, softInvalidationStaleMs: 60_000 });
    await cache.ready();
    const { state, load } = countingLoader();
    const read = () => cache.rememberWithMeta("k", "1m", load, { tags: ["guild:1"] });
    await read();
    const gate = deferred();
    state.gate = gate.promise;
    const refreshed = nextRefresh(cache, "k");
    await cache.invalidateByTags(["guild:1"], { mode: "soft" });
    await vi.waitFor(() => expect(state.calls).toBe(2), { timeout: 5_000, interval: 5 });
    const during = await Promise.all([read(), read()]);
    for (const result of during) expect(result).toMatchObject({ status: "stale", value: { n: 1 } });
    // A second soft bump while the refresh runs does not start another one for the key either.
    await cache.invalidateByTags(["guild:1"], { mode: "soft" });
    gate.resolve();
    expect((await refreshed).kind).toBe("done");
    expect(state.calls).toBe(2);
  });

  it("a second instance told over the bus does not compute again: the loader runs once across both", async () => {
    kit = new CacheKit("soft-refresh-fleet");
    const a = kit.cache({ l1, softInvalidationStaleMs: 60_000 });
    const b = kit.cache({ l1, softInvalidationStaleMs: 60_000 });
    await Promise.all([a.ready(), b.ready()]);
    const { state, load } = countingLoader();
    const options = { tags: ["guild:1"] };
    expect((await a.rememberWithMeta("k", "1m", load, options)).status).toBe("miss");
    expect((await b.rememberWithMeta("k", "1m", load, options)).status).toBe("hit");

    const gate = deferred();
    state.gate = gate.promise;
    const fromA = nextRefresh(a, "k");
    const fromB = nextRefresh(b, "k");
    await a.invalidateByTags(["guild:1"], { mode: "soft" }); // resolves once b applied it (acknowledged)
    // While the one run is held at the gate, the other instance finds the lock taken and gives up.
    const first = await Promise.race([fromA, fromB]);
    expect(first.kind).toBe("skipped");
    gate.resolve();
    const [eventA, eventB] = await Promise.all([fromA, fromB]);
    expect([eventA, eventB].filter((event) => event.kind === "done" && event.computedHere)).toHaveLength(1);
    expect(state.calls).toBe(2);
    expect(await a.rememberWithMeta("k", "1m", load, options)).toMatchObject({ status: "hit", value: { n: 2 } });
    expect(await b.rememberWithMeta("k", "1m", load, options)).toMatchObject({ status: "hit", value: { n: 2 } });
    expect(state.calls).toBe(2);
  });

  it("keys not read for idleMs are not refreshed; recently read ones are", async () => {
    kit = new CacheKit("soft-refresh-idle");
    const cache = kit.cache({ l1, softInvalidationStaleMs: 60_000, refreshOnSoftInvalidation: { idleMs: 150 } });
    await cache.ready();
    const idle = countingLoader();
    const recent = countingLoader();
    await cache.remember("idle", "1m", idle.load, { tags: ["guild:1"] });
    const idleSince = performance.now();
    // The bound under test is itself a duration: wait until it has passed.
    await vi.waitFor(() => expect(performance.now() - idleSince).toBeGreaterThan(200), {
      timeout: 5_000,
      interval: 10,
    });
    await cache.remember("recent", "1m", recent.load, { tags: ["guild:1"] });
    const events = recordRefreshes(cache);
    const refreshed = nextRefresh(cache, "recent");
    await cache.invalidateByTags(["guild:1"], { mode: "soft" });
    // Both refreshes would start in the same synchronous loop: once the recent one is done, an idle one would have run.
    expect((await refreshed).kind).toBe("done");
    expect(recent.state.calls).toBe(2);
    expect(idle.state.calls).toBe(1);
    expect(events).not.toContain("idle");
  });

  it("a hard invalidation refreshes nothing (the next reader computes)", async () => {
    kit = new CacheKit("soft-refresh-hard");
    const cache = kit.cache({ l1, softInvalidationStaleMs: 60_000 });
    await cache.ready();
    const hard = countingLoader();
    const control = countingLoader();
    await cache.remember("hard", "1m", hard.load, { tags: ["guild:1"] });
    await cache.remember("control", "1m", control.load, { tags: ["guild:2"] });
    const events = recordRefreshes(cache);
    await cache.invalidateByTags(["guild:1"]);
    // A soft bump of another tag afterwards: once its refresh is done, one started by the hard bump would have run.
    const refreshed = nextRefresh(cache, "control");
    await cache.invalidateByTags(["guild:2"], { mode: "soft" });
    expect((await refreshed).kind).toBe("done");
    expect(hard.state.calls).toBe(1);
    expect(events).toEqual(["control"]);
    expect(await cache.rememberWithMeta("hard", "1m", hard.load, { tags: ["guild:1"] })).toMatchObject({
      status: "miss",
      value: { n: 2 },
    });
  });

  it("a failing refresh is reported as refresh:error and the bus keeps working", async () => {
    kit = new CacheKit("soft-refresh-error");
    const a = kit.cache({ l1, softInvalidationStaleMs: 60_000 });
    const b = kit.cache({ l1, softInvalidationStaleMs: 60_000 });
    await Promise.all([a.ready(), b.ready()]);
    let fail = false;
    const load = async () => {
      if (fail) throw new Error("loader down");
      return { ok: true };
    };
    await b.remember("k", "1m", load, { tags: ["guild:1"] });
    fail = true;
    const failed = nextRefresh(b, "k");
    await a.invalidateByTags(["guild:1"], { mode: "soft" });
    expect((await failed).kind).toBe("error");
    // b still applies later invalidations from the bus: a hard one makes its entry a miss.
    fail = false;
    await a.invalidateByTags(["guild:1"]);
    expect((await b.rememberWithMeta("k", "1m", load, { tags: ["guild:1"] })).status).toBe("miss");
  });

  it("with refreshOnSoftInvalidation: false nothing is refreshed before a reader comes", async () => {
    kit = new CacheKit("soft-refresh-off");
    const off = kit.cache({ l1, softInvalidationStaleMs: 60_000, refreshOnSoftInvalidation: false });
    const on = kit.cache({ l1, softInvalidationStaleMs: 60_000 });
    await Promise.all([off.ready(), on.ready()]);
    const offLoader = countingLoader();
    const onLoader = countingLoader();
    await off.remember("off", "1m", offLoader.load, { tags: ["guild:1"] });
    await on.remember("on", "1m", onLoader.load, { tags: ["guild:1"] });
    const events = recordRefreshes(off);
    const refreshed = nextRefresh(on, "on");
    await off.invalidateByTags(["guild:1"], { mode: "soft" }); // resolves once `on` applied it too
    expect((await refreshed).kind).toBe("done");
    expect(offLoader.state.calls).toBe(1);
    expect(events).toEqual([]);
  });
});
