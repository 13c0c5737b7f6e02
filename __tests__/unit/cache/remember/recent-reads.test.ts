import { describe, expect, it, vi } from "vitest";
import { RecentReads } from "../../../../backend/src/cache/remember/recent-reads.ts";
import type { RememberPlan } from "../../../../backend/src/cache/remember/remember-plan.ts";

/** A plan with only what RecentReads looks at filled in meaningfully. */
function plan(fullKey: string, tags: string[]): RememberPlan<unknown> {
  return {
    key: fullKey,
    fullKey,
    ttlMs: 60_000,
    graceMs: 0,
    tags,
    schema: undefined,
    softTimeoutMs: undefined,
    hardTimeoutMs: undefined,
    refreshAheadAt: 0,
    staleWhileRevalidate: true,
  };
}

const load = async () => 1;
const keysOf = (reads: { plan: RememberPlan<unknown> }[]) => reads.map((read) => read.plan.fullKey).sort();

describe("RecentReads", () => {
  it("finds each remembered key once by any of its tags, with the last call's plan and loader", () => {
    const recent = new RecentReads({ maxKeys: 10, idleMs: 60_000 });
    recent.touch(plan("a", ["g:1", "t:x"]), load);
    recent.touch(plan("b", ["g:1"]), load);
    recent.touch(plan("c", ["g:2"]), load);
    const later = async () => 2;
    const lastPlan = plan("a", ["g:1", "t:x"]);
    recent.touch(lastPlan, later);
    const found = recent.tagged(["g:1", "t:x"]);
    expect(keysOf(found)).toEqual(["a", "b"]);
    const a = found.find((read) => read.plan.fullKey === "a")!;
    expect(a.plan).toBe(lastPlan);
    expect(a.loader).toBe(later);
    expect(keysOf(recent.tagged(["g:3"]))).toEqual([]);
  });

  it("is bounded by maxKeys: the least recently read key is forgotten and unindexed", () => {
    const recent = new RecentReads({ maxKeys: 2, idleMs: 60_000 });
    recent.touch(plan("a", ["only-a"]), load);
    recent.touch(plan("b", ["g"]), load);
    recent.touch(plan("a", ["only-a"]), load); // a read again: b is now the oldest
    recent.touch(plan("c", ["g"]), load);
    expect(recent.size).toBe(2);
    expect(keysOf(recent.tagged(["g", "only-a"]))).toEqual(["a", "c"]);
    recent.touch(plan("d", ["g"]), load);
    recent.touch(plan("e", ["g"]), load);
    expect(keysOf(recent.tagged(["g", "only-a"]))).toEqual(["d", "e"]);
    expect(recent.indexedTags).toBe(1); // "only-a" left the index with its key
  });

  it("forgets keys not read for idleMs, index included", async () => {
    const recent = new RecentReads({ maxKeys: 10, idleMs: 150 });
    recent.touch(plan("idle", ["g:idle"]), load);
    const since = performance.now();
    // The bound under test is itself a duration: read "kept" again half-way, then wait until "idle" is past it.
    await vi.waitFor(() => expect(performance.now() - since).toBeGreaterThan(80), { timeout: 5_000, interval: 5 });
    recent.touch(plan("kept", ["g"]), load);
    await vi.waitFor(() => expect(performance.now() - since).toBeGreaterThan(200), { timeout: 5_000, interval: 5 });
    expect(keysOf(recent.tagged(["g", "g:idle"]))).toEqual(["kept"]);
    expect(recent.size).toBe(1);
    expect(recent.indexedTags).toBe(1);
  });

  it("re-indexes a key whose tags changed and never remembers untagged keys", () => {
    const recent = new RecentReads({ maxKeys: 10, idleMs: 60_000 });
    recent.touch(plan("a", ["old"]), load);
    recent.touch(plan("a", ["new"]), load);
    expect(keysOf(recent.tagged(["old"]))).toEqual([]);
    expect(keysOf(recent.tagged(["new"]))).toEqual(["a"]);
    recent.touch(plan("a", []), load);
    recent.touch(plan("u", []), load);
    expect(recent.size).toBe(0);
    expect(recent.indexedTags).toBe(0);
  });
});
