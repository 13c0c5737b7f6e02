import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { InvalidKeyError, type SpyCache } from "../../../backend/src/cache/index.ts";
import { UNLINK_IF_UNCHANGED } from "../../../backend/src/cache/transport/lua-script.ts";
import type { RedisClient } from "../../../backend/src/redis/redis-connections.ts";
import { randomSnowflake } from "../../support/test-env.ts";
import { CacheKit, ready } from "../../support/cache-test-kit.ts";

/**
 * The capabilities every deployment must have, run against a single node and against a cluster.
 * `connect` opens a fresh command connection (the kit closes it).
 */
export function describeCoreSuite(label: string, connect: () => RedisClient): void {
  describe(`cache core on ${label}`, () => {
    let kit: CacheKit;
    let cache: SpyCache;
    let raw: RedisClient;

    beforeAll(async () => {
      kit = new CacheKit(`core-${label.replace(/\W+/g, "-")}`);
      raw = kit.track(connect());
      await ready(raw);
      const connection = kit.track(connect());
      await ready(connection);
      cache = kit.cache({ redis: connection });
      await cache.ready();
    });
    afterAll(async () => kit?.close());

    it("set/get round-trips JSON that redis-cli GET can read, with the envelope fields", async () => {
      const key = `profile:${randomSnowflake()}`;
      await cache.set(key, { name: "ana", roles: [1, 2] }, { ttl: "1m", tags: ["guild:1"] });
      expect(await cache.get(key)).toEqual({ name: "ana", roles: [1, 2] });
      const stored = JSON.parse((await raw.get(`${kit.prefix}:v1:${key}`))!);
      expect(stored).toMatchObject({ value: { name: "ana", roles: [1, 2] }, tags: { "guild:1": expect.any(Number) } });
      expect(stored.freshUntil - stored.createdAt).toBe(60_000);
      expect(stored.graceUntil).toBeGreaterThan(stored.freshUntil);
      const ttl = await raw.pttl(`${kit.prefix}:v1:${key}`);
      expect(ttl).toBeGreaterThan(60_000);
    });

    it("a numeric TTL is seconds, as document 001 and Redis EX: { ttl: 300 } lives 300 s plus grace in Redis", async () => {
      const key = `seconds:${randomSnowflake()}`;
      await cache.set(key, "five minutes", { ttl: 300 });
      const pttl = await raw.pttl(`${kit.prefix}:v1:${key}`);
      // Default grace is 1 min: Redis keeps the entry until the end of grace.
      expect(pttl).toBeGreaterThan(300_000);
      expect(pttl).toBeLessThanOrEqual(360_000);
      const stored = JSON.parse((await raw.get(`${kit.prefix}:v1:${key}`))!);
      expect(stored.freshUntil - stored.createdAt).toBe(300_000);
      expect(await cache.remember(`seconds:r:${randomSnowflake()}`, 300, async () => "kept")).toBe("kept");
      const counter = `seconds:c:${randomSnowflake()}`;
      expect(await cache.increment(counter, 1, { ttl: 300 })).toBe(1);
      const counterTtl = await raw.pttl(`${kit.prefix}:v1:${counter}`);
      expect(counterTtl).toBeGreaterThan(290_000);
      expect(counterTtl).toBeLessThanOrEqual(300_000);
    });

    it("get of a missing key is undefined; delete and exists agree", async () => {
      const key = `k:${randomSnowflake()}`;
      expect(await cache.get(key)).toBeUndefined();
      expect(await cache.exists(key)).toBe(false);
      await cache.set(key, 1);
      expect(await cache.exists(key)).toBe(true);
      expect(await cache.delete(key)).toBe(true);
      expect(await cache.delete(key)).toBe(false);
      expect(await cache.get(key)).toBeUndefined();
    });

    it("rejects keys and tags with whitespace, control or glob characters", async () => {
      await expect(cache.get("a b")).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(cache.set("a*", 1)).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(cache.remember("ok", "1m", async () => 1, { tags: ["bad tag"] })).rejects.toMatchObject({
        code: "E_INVALID_KEY",
      });
    });

    it("remember: miss, then hit with the same value and its age; the loader ran once", async () => {
      const key = `r:${randomSnowflake()}`;
      let runs = 0;
      const loader = async () => ({ run: ++runs });
      const first = await cache.rememberWithMeta(key, "1m", loader);
      const second = await cache.rememberWithMeta(key, "1m", loader);
      expect(first).toMatchObject({ value: { run: 1 }, status: "miss", ageMs: 0 });
      expect(second).toMatchObject({ value: { run: 1 }, status: "hit", storedAt: first.storedAt });
      expect(await cache.getOrSet(key, "1m", loader)).toEqual({ run: 1 });
      expect(runs).toBe(1);
    });

    it("invalidateByTag makes tagged entries unreadable, leaves others, and reports the entries it covered", async () => {
      const guild = randomSnowflake();
      const other = randomSnowflake();
      let runs = 0;
      const loader = async () => ++runs;
      for (const type of ["ghosts", "lurkers", "heatmap"]) {
        await cache.remember(`analytics:${type}:${guild}`, "5m", loader, {
          tags: [`guild:${guild}`, `analytics:${type}`],
        });
      }
      await cache.remember(`analytics:ghosts:${other}`, "5m", loader, { tags: [`guild:${other}`] });
      expect(runs).toBe(4);
      expect(await cache.invalidateByTag(`guild:${guild}`)).toBe(3);
      expect(await cache.get(`analytics:ghosts:${guild}`)).toBeUndefined();
      expect(
        (await cache.rememberWithMeta(`analytics:ghosts:${guild}`, "5m", loader, { tags: [`guild:${guild}`] })).status,
      ).toBe("miss");
      expect(
        (await cache.rememberWithMeta(`analytics:ghosts:${other}`, "5m", loader, { tags: [`guild:${other}`] })).status,
      ).toBe("hit");
      expect(await cache.invalidateByTagsWithReport([`guild:${guild}`, `guild:${other}`])).toEqual({
        tags: [`guild:${guild}`, `guild:${other}`],
        entries: 2,
        approximate: true,
      });
      expect(await cache.invalidateByTags([`guild:${other}`])).toBe(0);
    });

    it("an evicted tag version key never revives old entries, in this process or a fresh one", async () => {
      const tag = `guild:${randomSnowflake()}`;
      const key = `evict:${randomSnowflake()}`;
      await cache.set(key, "v1", { tags: [tag] });
      await cache.invalidateByTag(tag);
      // Simulate allkeys-lru evicting the tag's version key.
      await raw.del(`${kit.prefix}:_sys:v1:tag:{${tag}}`);
      const connection = kit.track(connect());
      await ready(connection);
      const fresh = kit.cache({ redis: connection });
      expect(await fresh.get(key)).toBeUndefined();
      expect(await cache.get(key)).toBeUndefined();
      const entry = JSON.parse((await raw.get(`${kit.prefix}:v1:${key}`))!);
      const now = Number(await raw.get(`${kit.prefix}:_sys:v1:tag:{${tag}}`));
      expect(now).toBeGreaterThan(entry.tags[tag]);
    });

    it("a cached value that no longer fits the schema is a miss, not a crash", async () => {
      const key = `schema:${randomSnowflake()}`;
      await cache.set(key, { count: "not a number" });
      const schema = z.object({ count: z.number() });
      expect(await cache.get(key, { schema })).toBeUndefined();
      const result = await cache.rememberWithMeta(key, "1m", async () => ({ count: 3 }), { schema });
      expect(result).toMatchObject({ value: { count: 3 }, status: "miss" });
      expect(await cache.get(key, { schema })).toEqual({ count: 3 });
    });

    it("100 concurrent callers of one cold key: one loader run, everyone gets its value", async () => {
      const key = `stampede:${randomSnowflake()}`;
      let runs = 0;
      const loader = async () => {
        runs += 1;
        await new Promise((resolve) => setImmediate(resolve));
        return `value-${runs}`;
      };
      const results = await Promise.all(
        Array.from({ length: 100 }, () => cache.remember(key, "1m", loader, { tags: ["t"] })),
      );
      expect(runs).toBe(1);
      expect(new Set(results)).toEqual(new Set(["value-1"]));
    });

    it("mset/mget, increment/decrement with a TTL", async () => {
      const a = `m:${randomSnowflake()}`;
      const b = `m:${randomSnowflake()}`;
      await cache.mset([
        { key: a, value: { a: 1 } },
        { key: b, value: [2], options: { tags: ["mtag"] } },
      ]);
      expect(await cache.mget([a, "m:missing", b])).toEqual([{ a: 1 }, undefined, [2]]);
      await cache.invalidateByTag("mtag");
      expect(await cache.mget([a, b])).toEqual([{ a: 1 }, undefined]);
      const counter = `c:${randomSnowflake()}`;
      expect(await cache.increment(counter, 5, { ttl: "1m" })).toBe(5);
      expect(await cache.decrement(counter)).toBe(4);
      expect(await cache.get(counter)).toBe(4);
      expect(await raw.pttl(`${kit.prefix}:v1:${counter}`)).toBeGreaterThan(50_000);
      await cache.set(`str:${counter}`, "x");
      await expect(cache.increment(`str:${counter}`)).rejects.toMatchObject({ code: "E_NOT_A_COUNTER" });
    });

    it("rememberMany calls the loader once with only the missing keys", async () => {
      const ids = [randomSnowflake(), randomSnowflake(), randomSnowflake()];
      await cache.set(`user:${ids[1]}`, "cached");
      const calls: string[][] = [];
      const values = await cache.rememberMany(
        ids.map((id) => `user:${id}`),
        "1m",
        async (missing) => {
          calls.push(missing);
          return Object.fromEntries(missing.map((key) => [key, `loaded:${key}`]));
        },
      );
      expect(calls).toEqual([[`user:${ids[0]}`, `user:${ids[2]}`]]);
      expect(values).toEqual([`loaded:user:${ids[0]}`, "cached", `loaded:user:${ids[2]}`]);
      const again = await cache.rememberMany(
        ids.map((id) => `user:${id}`),
        "1m",
        async (missing) => {
          calls.push(missing);
          return {};
        },
      );
      expect(calls).toHaveLength(1);
      expect(again).toEqual(values);
    });

    it("warm fills missing entries and reports failures", async () => {
      const ok = `warm:${randomSnowflake()}`;
      const report = await cache.warm([
        { key: ok, ttl: "1m", loader: async () => "warmed" },
        { key: `warm:${randomSnowflake()}`, ttl: "1m", loader: async () => Promise.reject(new Error("db down")) },
      ]);
      expect(report.warmed).toBe(1);
      expect(report.failed).toEqual([expect.objectContaining({ error: "db down" })]);
      expect(await cache.get(ok)).toBe("warmed");
    });

    it("deleteByPattern and clear touch only this prefix's entries", async () => {
      const neighbour = kit.track(connect());
      await ready(neighbour);
      const otherKey = `${kit.prefix}-neighbour:v1:p:1`;
      await neighbour.set(otherKey, "keep");
      const g = randomSnowflake();
      await cache.set(`p:${g}:a`, 1);
      await cache.set(`p:${g}:b`, 2);
      await cache.set(`q:${g}`, 3);
      expect(await cache.deleteByPattern(`p:${g}:*`)).toBe(2);
      expect(await cache.get(`q:${g}`)).toBe(3);
      expect(await cache.clear()).toBeGreaterThanOrEqual(1);
      expect(await cache.get(`q:${g}`)).toBeUndefined();
      expect(await neighbour.get(otherKey)).toBe("keep");
      await neighbour.del(otherKey);
    });

    it("purgeTag deletes the bytes of every entry carrying the tag", async () => {
      const tag = `user:${randomSnowflake()}`;
      await cache.set(`purge:a:${tag}`, "secret", { tags: [tag] });
      await cache.set(`purge:b:${tag}`, "secret", { tags: [tag, "other"] });
      await cache.set(`purge:c:${tag}`, "public", { tags: ["other"] });
      const result = await cache.purgeTag(tag);
      expect(result.deleted).toBe(2);
      expect(await raw.exists(`${kit.prefix}:v1:purge:a:${tag}`)).toBe(0);
      expect(await raw.exists(`${kit.prefix}:v1:purge:b:${tag}`)).toBe(0);
      expect(await cache.get(`purge:c:${tag}`)).toBe("public");
    });

    it("sweepInvalidated deletes the bytes of invalidated entries only, and never an entry rewritten since", async () => {
      const tag = `sweep:${randomSnowflake()}`;
      const keys = [0, 1, 2].map((i) => `sweep:${i}:${tag}`);
      for (const key of keys) await cache.set(key, { key }, { ttl: "10m", tags: [tag] });
      await cache.set(`sweep:kept:${tag}`, "kept", { ttl: "10m", tags: ["other-sweep-tag"] });
      await cache.invalidateByTag(tag);
      // Rewritten after the invalidation: built on the new version, so it is valid and must survive.
      await cache.set(keys[2]!, "rewritten", { ttl: "10m", tags: [tag] });
      const result = await cache.sweepInvalidated();
      expect(result.deleted).toBeGreaterThanOrEqual(2);
      expect(result.bytes).toBeGreaterThan(0);
      expect(await raw.exists(`${kit.prefix}:v1:${keys[0]}`)).toBe(0);
      expect(await raw.exists(`${kit.prefix}:v1:${keys[1]}`)).toBe(0);
      expect(await cache.get(keys[2]!)).toBe("rewritten");
      expect(await cache.get(`sweep:kept:${tag}`)).toBe("kept");
      // The sweep's delete is compare-and-delete: a value changed after the sweep read it is not deleted.
      const probe = `${kit.prefix}:v1:sweep:probe:${tag}`;
      await raw.set(probe, "read by the sweep");
      const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");
      await raw.set(probe, "rewritten meanwhile");
      expect(await UNLINK_IF_UNCHANGED.run(raw, [probe], [sha1("read by the sweep")])).toBe(0);
      expect(await raw.get(probe)).toBe("rewritten meanwhile");
      expect(await UNLINK_IF_UNCHANGED.run(raw, [probe], [sha1("rewritten meanwhile")])).toBe(1);
      expect(await raw.exists(probe)).toBe(0);
    });

    it("calls after close() fail with E_CACHE_CLOSED", async () => {
      const connection = kit.track(connect());
      await ready(connection);
      const closed = kit.cache({ redis: connection });
      await closed.close();
      await expect(closed.remember("k", "1m", async () => 1)).rejects.toMatchObject({ code: "E_CACHE_CLOSED" });
      await expect(closed.get("k")).rejects.toMatchObject({ code: "E_CACHE_CLOSED" });
    });

    it("getStats reports this cache's hits, misses and keys", async () => {
      const stats = await cache.getStats();
      expect(stats.instance.hits.total).toBeGreaterThan(0);
      expect(stats.instance.misses).toBeGreaterThan(0);
      expect(stats.keyspace!.keys).toBeGreaterThan(0);
      expect(stats.invalidation.trusted).toBe(true);
      expect(stats.breaker.state).toBe("closed");
    });
  });
}
