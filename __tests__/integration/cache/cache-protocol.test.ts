import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { SpyCache } from "../../../backend/src/cache/index.ts";
import { freePort } from "../../support/redis-server.ts";
import { randomSnowflake } from "../../support/test-env.ts";
import { CacheKit, ready, testRedis } from "../../support/cache-test-kit.ts";

describe("invalidation protocol details on a single node", () => {
  let kit: CacheKit;
  let raw: Redis;
  let a: SpyCache;

  const connected = async () => {
    const connection = kit.track(testRedis());
    await ready(connection);
    return connection;
  };

  beforeAll(async () => {
    kit = new CacheKit("protocol");
    raw = await connected();
    a = kit.cache({ redis: await connected() });
    await a.ready();
  });
  afterAll(async () => kit?.close());

  it("an instance whose subscriber never connects is never trusted, still never reads invalidated data, and invalidations wait at most W for it", async () => {
    const deadSubscriber = kit.track(
      new Redis({ port: await freePort(), host: "127.0.0.1", retryStrategy: () => 1_000 }),
    );
    deadSubscriber.on("error", () => undefined);
    const b = kit.cache({ redis: await connected(), subscriber: deadSubscriber, invalidationWindowMs: 500 });
    const tag = `guild:${randomSnowflake()}`;
    const key = `untrusted:${randomSnowflake()}`;
    await b.set(key, "old", { tags: [tag] });
    expect(await b.get(key)).toBe("old");
    // b heartbeats (so it is live) but never hears its pings, so it never acknowledges: a waits for W.
    await vi.waitFor(
      async () => expect(await raw.zscore(`${kit.prefix}:_sys:v1:instances`, b.instanceId)).not.toBeNull(),
      { interval: 10 },
    );
    const started = performance.now();
    await a.invalidateByTag(tag);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(490);
    // W plus a few round trips; generous for a loaded 2-core machine.
    expect(waited).toBeLessThan(1_500);
    expect(b.trusted).toBe(false);
    expect(await b.get(key)).toBeUndefined();
    expect(await b.remember(key, "1m", async () => "new", { tags: [tag] })).toBe("new");
    await b.close();
  });

  it("an instance whose heartbeat cannot be written is still waited for (heard pinging), so it never reads invalidated data", async () => {
    const redis = await connected();
    // Fault injected around a real connection: ZADD gets an error reply (not a connection failure, so no breaker
    // opens); the pings and every other command run. Rule 3/4 (docs/cache.md): invalidators count instances heard
    // pinging as live, so this instance may trust its map and is waited for.
    redis.zadd = (async () => {
      throw Object.assign(new Error("NOPERM no ZADD in this test"), { name: "ReplyError" });
    }) as unknown as typeof redis.zadd;
    const b = kit.cache({ redis, invalidationWindowMs: 500 });
    const tag = `guild:${randomSnowflake()}`;
    const key = `unregistered:${randomSnowflake()}`;
    await b.set(key, "old", { tags: [tag] });
    expect(await b.get(key)).toBe("old");
    await vi.waitFor(() => expect(b.trusted).toBe(true), { interval: 10, timeout: 5_000 });
    expect(await raw.zscore(`${kit.prefix}:_sys:v1:instances`, b.instanceId)).toBeNull();
    await a.invalidateByTag(tag);
    expect(await b.get(key)).toBeUndefined();
    await b.close();
  });

  it("with every live instance acknowledging, an invalidation resolves well before W", async () => {
    // A long W (4 s) makes "resolved by acknowledgements" unmistakable even on a loaded machine.
    const prefixKit = new CacheKit("protocol-acks");
    try {
      const options = { invalidationWindowMs: 4_000 };
      const first = prefixKit.cache({ redis: prefixKit.track(testRedis()), ...options });
      const b = prefixKit.cache({ redis: prefixKit.track(testRedis()), ...options });
      await Promise.all([first.ready(), b.ready()]);
      await vi.waitFor(async () => expect(await raw.zcard(`${prefixKit.prefix}:_sys:v1:instances`)).toBe(2), {
        interval: 10,
      });
      // The first one may wait until W/2 after `first` began hearing the bus (a ping it missed before then may
      // still be trusted until that time: docs/cache.md, rule 4); by then it has heard the whole window.
      const startedFirst = performance.now();
      await first.invalidateByTag(`guild:${randomSnowflake()}`);
      expect(performance.now() - startedFirst).toBeLessThan(3_000);
      const started = performance.now();
      await first.invalidateByTag(`guild:${randomSnowflake()}`);
      expect(performance.now() - started).toBeLessThan(1_000);
      await b.close();
      expect(await raw.zscore(`${prefixKit.prefix}:_sys:v1:instances`, b.instanceId)).toBeNull();
    } finally {
      await prefixKit.close();
    }
  });

  it("a closed instance leaves the registry", async () => {
    const b = kit.cache({ redis: await connected() });
    await b.ready();
    await vi.waitFor(
      async () => expect(await raw.zscore(`${kit.prefix}:_sys:v1:instances`, b.instanceId)).not.toBeNull(),
      { interval: 10 },
    );
    await b.close();
    expect(await raw.zscore(`${kit.prefix}:_sys:v1:instances`, b.instanceId)).toBeNull();
  });

  it("a lost bus message (sequence gap) makes the instance forget its tag map, and it keeps working", async () => {
    const tag = `guild:${randomSnowflake()}`;
    await a.set(`gap:${tag}`, "v", { tags: [tag] });
    expect((await a.getStats({ includeKeyspace: false })).invalidation.knownTags).toBeGreaterThan(0);
    // Skip a sequence number, as if a message had been published and lost.
    await raw.incr(`${kit.prefix}:_sys:v1:bus:seq`);
    await vi.waitFor(
      async () => expect((await a.getStats({ includeKeyspace: false })).invalidation.knownTags).toBe(0),
      {
        interval: 10,
        timeout: 2_000,
      },
    );
    expect(await a.get(`gap:${tag}`)).toBe("v");
    await a.invalidateByTag(tag);
    expect(await a.get(`gap:${tag}`)).toBeUndefined();
  });

  it("compresses large values in Redis and reads them back", async () => {
    const c = kit.cache({ redis: await connected(), compressAboveBytes: 256 });
    const key = `zip:${randomSnowflake()}`;
    const value = { rows: Array.from({ length: 100 }, (_, i) => ({ user: `u${i}`, score: i })) };
    await c.set(key, value);
    const stored = JSON.parse((await raw.get(`${kit.prefix}:v1:${key}`))!);
    expect(stored.encoding).toBe("gzip+base64");
    expect(await c.get(key)).toEqual(value);
    expect(await a.get(key)).toEqual(value);
  });
});
