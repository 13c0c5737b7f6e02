import { afterEach, describe, expect, it } from "vitest";
import { CacheKit } from "../../support/cache-test-kit.ts";

const failing =
  (message = "postgres down") =>
  async (): Promise<never> => {
    throw new Error(message);
  };

describe("last good copies: stale-if-error past the entry's life (RememberOptions.lastGood)", () => {
  let kit: CacheKit;
  afterEach(async () => {
    await kit.close();
  });

  it("serves the last good value when the loader fails after a hard or soft invalidation, and under a new entry key", async () => {
    kit = new CacheKit("last-good");
    const cache = kit.cache({ softInvalidationStaleMs: 1 });
    await cache.ready();
    const tags = ["guild:1"];
    const lastGood = { key: "a:1:last:24h", horizon: "1h" } as const;
    const first = await cache.rememberWithMeta("a:1:minute-0", "1m", async () => ({ n: 1 }), { tags, lastGood });
    expect(first.status).toBe("miss");

    await cache.invalidateByTags(tags); // hard: the entry is gone for every reader
    const afterHard = await cache.rememberWithMeta("a:1:minute-0", "1m", failing(), { tags, lastGood });
    expect(afterHard).toMatchObject({
      status: "stale",
      value: { n: 1 },
      staleBecauseOfError: true,
      storedAt: first.storedAt,
    });
    expect((afterHard.loaderError as Error).message).toBe("postgres down");

    await cache.invalidateByTags(tags, { mode: "soft" });
    await new Promise((resolve) => setTimeout(resolve, 5)); // past S = 1 ms: the soft-stale window is over
    expect(await cache.rememberWithMeta("a:1:minute-0", "1m", failing(), { tags, lastGood })).toMatchObject({
      status: "stale",
      value: { n: 1 },
    });

    // The next minute's entry key (a relative window) has never been computed: the shared copy answers.
    expect(await cache.rememberWithMeta("a:1:minute-1", "1m", failing(), { tags, lastGood })).toMatchObject({
      status: "stale",
      value: { n: 1 },
    });

    // A newer computation replaces the copy.
    await cache.rememberWithMeta("a:1:minute-2", "1m", async () => ({ n: 2 }), { tags, lastGood });
    expect(await cache.rememberWithMeta("a:1:minute-3", "1m", failing(), { tags, lastGood })).toMatchObject({
      status: "stale",
      value: { n: 2 },
    });
  });

  it("a value never computed rejects with the loader's error; a copy past its horizon is not served", async () => {
    kit = new CacheKit("last-good-none");
    const cache = kit.cache();
    await cache.ready();
    await expect(
      cache.rememberWithMeta("b:1", "1m", failing("never"), { lastGood: { key: "b:last", horizon: "1h" } }),
    ).rejects.toThrow("never");
    await cache.rememberWithMeta("b:2", "1m", async () => 1, { lastGood: { key: "b:short", horizon: "150ms" } });
    await cache.invalidateByTags(["unrelated"]);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the horizon is a duration: let it pass
    await expect(
      cache.rememberWithMeta("b:3", "1m", failing("gone"), { lastGood: { key: "b:short", horizon: "150ms" } }),
    ).rejects.toThrow("gone");
  });

  it("the cleanup sweep leaves copies (they outlive invalidations); purgeTag deletes them with the entries", async () => {
    kit = new CacheKit("last-good-sweep");
    const cache = kit.cache();
    await cache.ready();
    const lastGood = { key: "c:last", horizon: "1h" } as const;
    await cache.rememberWithMeta("c:1", "1m", async () => "v", { tags: ["guild:9"], lastGood });
    await cache.invalidateByTags(["guild:9"]);
    const swept = await cache.sweepInvalidated();
    expect(swept.deleted).toBe(1); // the entry, not the copy
    expect(await cache.rememberWithMeta("c:2", "1m", failing(), { tags: ["guild:9"], lastGood })).toMatchObject({
      status: "stale",
      value: "v",
    });
    const purged = await cache.purgeTag("guild:9");
    expect(purged.deleted).toBe(1); // the copy
    await expect(
      cache.rememberWithMeta("c:3", "1m", failing("purged"), { tags: ["guild:9"], lastGood }),
    ).rejects.toThrow("purged");
  });
});
