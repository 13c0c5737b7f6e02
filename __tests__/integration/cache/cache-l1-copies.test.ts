import type { Command, Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { KeyBuilder, type SpyCache } from "../../../backend/src/cache/index.ts";
import type { EntryReader } from "../../../backend/src/cache/read/entry-reader.ts";
import { createServiceCache } from "../../../backend/src/composition/service-cache.ts";
import { createRedisConnections, type RedisConnections } from "../../../backend/src/redis/redis-connections.ts";
import { CacheKit, testRedis } from "../../support/cache-test-kit.ts";
import { masterLookup } from "../../support/cluster-key-placement.ts";
import { startRedisCluster, type RedisClusterHandle } from "../../support/redis-cluster.ts";
import { TcpProxy } from "../../support/tcp-proxy.ts";
import { randomSnowflake, TEST_REDIS_URL, testConfig, testLogger, uniquePrefix } from "../../support/test-env.ts";

/** W of the single-node instances: short, so "at most W/2 after the change" is quick to check. */
const W = 500;

/**
 * Holds back the delivery of `client`'s GET replies by `hold.ms` while `hold.on` (Redis has answered already);
 * `hold.answered` counts the replies that arrived meanwhile.
 */
function delayGetReplies(client: Redis, hold: { on: boolean; ms: number; answered: number }): void {
  const send = client.sendCommand.bind(client) as (command: Command, ...rest: unknown[]) => unknown;
  (client as { sendCommand: typeof send }).sendCommand = (command, ...rest) => {
    if (hold.on && command.name === "get") {
      const pending = command as unknown as { resolve: (value: unknown) => void };
      const resolve = pending.resolve;
      pending.resolve = (value) => {
        hold.answered += 1;
        setTimeout(() => resolve(value), hold.ms);
      };
    }
    return send(command, ...rest);
  };
}

/** The entry reader inside a cache (what `remember` reads through). */
const readerOf = (cache: SpyCache) => (cache as unknown as { reader: EntryReader }).reader;

/**
 * What an L1 copy may never do (docs/cache.md, "L1" and "Tag invalidation"): come back after its key was dropped,
 * outlive a read that found its key gone, or be served for a key whose master is out after an invalidation this
 * process applied.
 */
describe("L1 copies", () => {
  const kit = new CacheKit("l1-copies");
  afterAll(() => kit.close());

  it("a GET answered before another instance's change but delivered after its announcement does not put the old copy back", async () => {
    const client = kit.track(testRedis());
    const hold = { on: false, ms: 100, answered: 0 };
    delayGetReplies(client, hold);
    const reader = kit.cache({ redis: client, l1: { maxEntries: 100 }, invalidationWindowMs: W });
    const writer = kit.cache({ l1: { maxEntries: 100 }, invalidationWindowMs: W });
    await Promise.all([reader.ready(), writer.ready()]);
    const key = `race:${randomSnowflake()}`;
    const tag = `guild:${randomSnowflake()}`;
    const read = () => reader.remember(key, "1m", async () => "loaded", { tags: [tag] });
    await writer.set(key, "old", { tags: [tag] });

    hold.on = true;
    const inFlight = read();
    // Redis has answered its GET ("old"); the reply reaches the cache 100 ms later.
    await vi.waitFor(() => expect(hold.answered).toBe(1), { interval: 1 });
    hold.on = false;
    await writer.set(key, "new", { tags: [tag] }); // resolves after Redis took it; announced on the bus
    const changedAt = performance.now();
    expect(await inFlight).toBe("old"); // concurrent with the change: either answer is right
    expect(reader.trusted).toBe(true);
    // docs/cache.md "L1": at most W/2 after the writing call resolved. Before the fix: "old" until its grace.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, changedAt + W / 2 - performance.now())));
    expect(await read()).toBe("new");
  });

  it("a read that finds the key gone (or not valid) drops the copy", async () => {
    const cache = kit.cache({ l1: { maxEntries: 100 }, invalidationWindowMs: W });
    await cache.ready();
    const key = `gone:${randomSnowflake()}`;
    await cache.set(key, "held", { tags: [`guild:${randomSnowflake()}`] });
    const fullKey = new KeyBuilder({ prefix: kit.prefix, version: "v1" }).entry(key);
    expect(readerOf(cache).readL1(fullKey)?.envelope?.value).toBe("held");
    // What a GET sent now would hand over if another instance deleted the key unannounced.
    expect(readerOf(cache).accept(fullKey, null, undefined, performance.now())).toMatchObject({ envelope: undefined });
    expect(readerOf(cache).readL1(fullKey)).toBeUndefined();
  });
});

/**
 * Redis cut off (a TCP proxy in front of it refuses): what this process holds is served stale instead of running the
 * loader on every read, unless an invalidation passed it, and then the last good copy serves.
 */
describe("copies while Redis is cut off", () => {
  const kit = new CacheKit("l1-outage");
  let proxy: TcpProxy;
  beforeAll(async () => {
    const { hostname, port } = new URL(TEST_REDIS_URL);
    proxy = await TcpProxy.start(hostname, Number(port || 6379));
  });
  afterAll(async () => {
    await kit.close();
    await proxy?.close();
  });
  afterEach(() => proxy.restore());

  /** A cache whose command connection goes through the proxy; W short. */
  const cutOffCache = async () => {
    const cache = kit.cache({
      redis: kit.track(testRedis(proxy.rewrite(TEST_REDIS_URL))),
      l1: { maxEntries: 100 },
      invalidationWindowMs: W,
    });
    await cache.ready();
    return cache;
  };
  /** `reads` reads `apartMs` apart, counted by status. */
  const readMany = async (reads: number, read: () => Promise<{ status: string }>, apartMs = 5) => {
    const statuses: Record<string, number> = {};
    for (let i = 0; i < reads; i += 1) {
      const { status } = await read();
      statuses[status] = (statuses[status] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, apartMs));
    }
    return statuses;
  };

  it("a refresh whose write fails keeps the copy: it is served stale, the loader runs about once", async () => {
    const cache = await cutOffCache();
    const key = `refresh:${randomSnowflake()}`;
    const tag = `guild:${randomSnowflake()}`;
    let loads = 0;
    const read = () =>
      cache.rememberWithMeta(key, "2s", async () => `v${(loads += 1)}`, {
        tags: [tag],
        grace: "1m",
        refreshAheadAt: 0.5,
      });
    expect((await read()).status).toBe("miss");
    // Past the refresh-ahead point (half of the 2 s TTL): the next reads start a refresh, whose SET fails.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await proxy.cut();
    // The next reads are L1 hits (the tag map stays trusted for a while); one starts the refresh, which runs the loader
    // without the lock (Redis refuses) and whose SET fails; then the breaker opens.
    const before = loads;
    const statuses = await readMany(150, read, 10);
    // Before the copy was kept: about 145 loader runs, all bypass. Now the copy, HIT while the map is trusted, then
    // STALE; the refresh's own loader run (or two) is all.
    expect(loads - before).toBeLessThanOrEqual(3);
    expect((statuses.hit ?? 0) + (statuses.stale ?? 0)).toBeGreaterThanOrEqual(147);
  });

  it("a copy an invalidation passed is not served, and does not hide the last good copy", async () => {
    const cache = await cutOffCache();
    const key = `passed:${randomSnowflake()}`;
    const tag = `guild:${randomSnowflake()}`;
    let loads = 0;
    const read = () =>
      cache.rememberWithMeta(key, "1m", async () => `v${(loads += 1)}`, {
        tags: [tag],
        refreshAheadAt: 0,
        lastGood: { key: `${key}:last-good`, horizon: "1h" },
      });
    expect(await read()).toMatchObject({ value: "v1", status: "miss" });
    await cache.invalidateByTag(tag); // the copy stays in L1 (not read since), passed
    await proxy.cut();
    const first = await read();
    // The passed copy is never served: the loader runs once, and its result is kept as the last good copy.
    expect(first).toMatchObject({ value: "v2", status: "bypass" });
    const statuses = await readMany(60, read);
    // Before: the passed copy hid the last good copy and the loader ran on every read (60 of 60).
    expect(loads).toBeLessThanOrEqual(3);
    expect(statuses.stale ?? 0).toBeGreaterThanOrEqual(58);
  });
});

/**
 * On a cluster each master has its own breaker: an invalidation of tags on live masters completes while the key's own
 * master is out. The copy this process holds must not be served after it (it used to be, as STALE, until the master
 * came back).
 */
describe("the copy served while a key's master is out", () => {
  let cluster: RedisClusterHandle | undefined;
  let connections: RedisConnections[] = [];
  let caches: SpyCache[] = [];
  let frozen: number | undefined;
  afterAll(async () => {
    if (frozen !== undefined) cluster?.thaw(frozen);
    await Promise.allSettled(caches.map((cache) => cache.close()));
    await Promise.allSettled(connections.map((connection) => connection.close()));
    await cluster?.stop();
  });

  it("is not served once this process applied an invalidation of one of its tags", async () => {
    // A long node timeout: the frozen master is never failed over during the test.
    cluster = await startRedisCluster({ nodeTimeoutMs: 15_000 });
    const masterOf = await masterLookup(cluster.client());
    const masters = await cluster.masters();
    // A prefix whose bus keys live off one master (the victim), a tag off it too, and an entry on it.
    let prefix = "";
    let victim = 0;
    let keys: KeyBuilder | undefined;
    for (let tries = 0; keys === undefined; tries += 1) {
      if (tries > 50) throw new Error("no placement found");
      prefix = uniquePrefix("l1-held");
      const builder = new KeyBuilder({ prefix: `${prefix}:cache`, version: "v1" });
      const used = await Promise.all([builder.busSequence(), ...builder.registries()].map((key) => masterOf(key)));
      const free = masters.filter((port) => !used.includes(port));
      if (free.length > 0) {
        victim = free[0]!;
        keys = builder;
      }
    }
    let tag = "";
    while (!tag) {
      const candidate = `guild:${randomSnowflake()}`;
      if ((await masterOf(keys.tagVersion(candidate))) !== victim) tag = candidate;
    }
    const onVictim: string[] = [];
    while (onVictim.length < 2) {
      const candidate = `held:${randomSnowflake()}`;
      if ((await masterOf(keys.entry(candidate))) === victim) onVictim.push(candidate);
    }
    const [key, cold] = onVictim as [string, string];
    const config = testConfig({
      REDIS_CLUSTER_NODES: cluster.nodes.join(","),
      REDIS_KEY_PREFIX: prefix,
      // The service's default: the frozen master's breaker opens after 5 timeouts of 250 ms.
      REDIS_COMMAND_TIMEOUT_MS: "250",
    });
    // The point is an invalidation the reader has applied: its bus subscriber (on a node ioredis picks at random, a
    // replica included) must not be on the master about to be frozen, or it never hears the invalidation (it then
    // stops trusting its map, and the invalidation waits W for it). Reconnect until both are elsewhere.
    for (let attempt = 0; ; attempt += 1) {
      connections = [
        createRedisConnections(config.redis, testLogger()),
        createRedisConnections(config.redis, testLogger()),
      ];
      caches = connections.map((connection) => createServiceCache(config, connection, testLogger()));
      await Promise.all(caches.map((cache) => cache.ready(10_000)));
      if ((await cluster.subscribers(victim)) === 0) break;
      if (attempt >= 20) throw new Error("every attempt put a bus subscriber on the master to freeze");
      await Promise.all(caches.map((cache) => cache.close()));
      await Promise.all(connections.map((connection) => connection.close()));
    }
    const [reader, invalidator] = caches as [SpyCache, SpyCache];
    let computed = 0;
    const read = () => reader.rememberWithMeta(key, "1m", async () => `value ${(computed += 1)}`, { tags: [tag] });
    expect(await read()).toMatchObject({ value: "value 1", status: "miss" });
    expect(await read()).toMatchObject({ value: "value 1", status: "hit" });

    frozen = await cluster.freezeMaster(victim);
    // The copy is a valid L1 hit while the tag map is trusted, whatever its master does. Reads of another key of the
    // frozen master time out until that master's breaker opens; from then on the copy is served stale.
    await vi.waitFor(
      async () => {
        await reader.rememberWithMeta(cold, "1m", async () => "cold");
        expect(await read()).toMatchObject({ value: "value 1", status: "stale", staleBecauseOfError: true });
      },
      { timeout: 15_000, interval: 20 },
    );
    // Its tag lives on a live master, and so does the bus: the invalidation completes.
    await invalidator.invalidateByTag(tag);
    const after = await read();
    expect(after.status).toBe("bypass");
    expect(after.value).toBe("value 2");
  }, 60_000);
});
