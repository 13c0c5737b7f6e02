import { Redis, type Command } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { KeyBuilder, type SpyCache } from "../../../backend/src/cache/index.ts";
import { CacheKit, ready } from "../../support/cache-test-kit.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { randomSnowflake } from "../../support/test-env.ts";

/** W of every instance: long enough that "resolved on acknowledgements" and "waited W" cannot be confused. */
const W = 2_000;

/** What a user of the throwaway server may not do: touch one of these keys, or PUBLISH (its acknowledgements). */
interface Denied {
  sequence?: boolean;
  first?: boolean;
  second?: boolean;
  publish?: boolean;
}

/**
 * The two registries (docs/cache.md, "Tag invalidation", rules 1, 3, 4 and 6), on a redis-server of this file's own
 * whose ACL users stand for a dead master: a user that may not touch the first registry, the second or the bus's
 * sequence key gets a NOPERM reply for each command on it (Redis answered: no breaker opens, as for a registry key
 * on another master whose own breaker is open), while everything else works.
 */
describe("two instance registries", () => {
  let server: ThrowawayRedis;
  let kit: CacheKit;
  let keys: KeyBuilder;
  let raw: Redis;
  let users = 0;

  const connection = async (user?: string) => {
    const redis = kit.track(
      new Redis({
        port: server.port,
        host: "127.0.0.1",
        ...(user ? { username: user, password: "pw" } : {}),
        commandTimeout: 250,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
      }),
    );
    redis.on("error", () => undefined);
    await ready(redis);
    return redis;
  };

  /** A cache whose command connection may not do what `denied` says (its subscriber may do everything). */
  const restricted = async (
    denied: Denied,
    awaitReady = true,
    extra: { l1?: { maxEntries: number } } = {},
  ): Promise<{ cache: SpyCache; client: Redis }> => {
    const user = `u${(users += 1)}`;
    const base = `${kit.prefix}:_sys:v1:`;
    // Glob patterns allow keys only: every key of this prefix except the denied ones (Redis ACLs have no "deny").
    const patterns = [`~${kit.prefix}:[^_]*`, `~${base}[^bi]*`];
    if (!denied.sequence) patterns.push(`~${base}bus:seq`);
    if (!denied.first) patterns.push(`~${base}instances`);
    if (!denied.second) patterns.push(`~${base}instances2:*`);
    await raw.call("ACL", "SETUSER", user, "reset", "on", ">pw", "+@all", "&*", ...patterns);
    if (denied.publish) await raw.call("ACL", "SETUSER", user, "-publish");
    const client = await connection(user);
    const cache = kit.cache({
      redis: client,
      subscriber: await connection(),
      invalidationWindowMs: W,
      breaker: { failureThreshold: 1_000_000 },
      ...extra,
    });
    // ready() waits for the instance's own ping: never, when it may not publish.
    if (awaitReady) await cache.ready();
    return { cache, client };
  };

  const registered = async (instanceId: string) =>
    Promise.all(keys.registries().map(async (registry) => (await raw.zscore(registry, instanceId)) !== null));

  const timed = async (work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };

  beforeAll(async () => {
    server = await ThrowawayRedis.start();
    kit = new CacheKit("registries");
    keys = new KeyBuilder({ prefix: kit.prefix, version: "v1" });
    raw = await connection();
  });
  afterAll(async () => {
    await kit?.close();
    await server?.close();
  });

  it("every heartbeat writes both registries, and close() leaves both", async () => {
    const cache = kit.cache({ redis: await connection(), subscriber: await connection(), invalidationWindowMs: W });
    await cache.ready();
    await vi.waitFor(async () => expect(await registered(cache.instanceId)).toEqual([true, true]), { interval: 10 });
    const [first, second] = keys.registries();
    // Every W/4 (500 ms): both scores move on.
    const before = await Promise.all([raw.zscore(first, cache.instanceId), raw.zscore(second, cache.instanceId)]);
    await vi.waitFor(
      async () => {
        expect(Number(await raw.zscore(first, cache.instanceId))).toBeGreaterThan(Number(before[0]));
        expect(Number(await raw.zscore(second, cache.instanceId))).toBeGreaterThan(Number(before[1]));
      },
      { interval: 20, timeout: 3_000 },
    );
    await cache.close();
    expect(await registered(cache.instanceId)).toEqual([false, false]);
  });

  it.each([
    ["first", { first: true }, [false, true]],
    ["second", { second: true }, [true, false]],
  ] as const)(
    "a registry that cannot be written (the %s) stops neither the other registry nor the ping",
    async (_which, denied, expected) => {
      const { cache } = await restricted(denied);
      await vi.waitFor(async () => expect(await registered(cache.instanceId)).toEqual(expected), { interval: 10 });
      await vi.waitFor(() => expect(cache.trusted).toBe(true), { interval: 10, timeout: 5_000 });
      // Still both, a few beats later.
      await new Promise((resolve) => setTimeout(resolve, W / 2));
      expect(await registered(cache.instanceId)).toEqual(expected);
      expect(cache.trusted).toBe(true);
      await cache.close();
      expect(await registered(cache.instanceId)).toEqual([false, false]);
    },
  );

  it("an invalidator that can read only one registry waits W; one that reads both resolves on acknowledgements", async () => {
    const peer = kit.cache({ redis: await connection(), subscriber: await connection(), invalidationWindowMs: W });
    await peer.ready();
    const blind = [(await restricted({ second: true })).cache, (await restricted({ first: true })).cache];
    await vi.waitFor(() => expect([peer, ...blind].map((cache) => cache.trusted)).toEqual([true, true, true]), {
      interval: 10,
      timeout: 5_000,
    });
    // A first invalidation may wait until W/2 after its instance began hearing the bus (rule 4c); the second of the
    // first one, and the other's (after those two), may not.
    for (const cache of [blind[0]!, ...blind])
      expect(await timed(() => cache.invalidateByTag(`guild:${randomSnowflake()}`))).toBeGreaterThanOrEqual(W - 10);
    await peer.invalidateByTag(`guild:${randomSnowflake()}`);
    expect(await timed(() => peer.invalidateByTag(`guild:${randomSnowflake()}`))).toBeLessThan(W / 2);
    await Promise.all([peer, ...blind].map((cache) => cache.close()));
  });

  it("an instance registered only in the second registry, silent on the bus, is waited for, and its fetched versions vouch from that registration", async () => {
    const writer = kit.cache({ redis: await connection(), subscriber: await connection(), invalidationWindowMs: W });
    await writer.ready();
    // As if the master holding the bus's sequence key and the first registry were dead for it alone: it registers in
    // the second registry only, its pings fail (never trusted, never heard), its acknowledgements are lost.
    const { cache: lone, client } = await restricted({ sequence: true, first: true, publish: true }, false);
    await vi.waitFor(async () => expect(await registered(lone.instanceId)).toEqual([false, true]), { interval: 10 });
    await vi.waitFor(() => expect(writer.trusted).toBe(true), { interval: 10, timeout: 5_000 });
    expect(lone.trusted).toBe(false);

    // Rule 6: a version it read from Redis vouches for its tag from its registration in the second registry, so
    // repeated reads of the entry send no tag-version script each (one every W/4 or so at most).
    const tagReads: number[] = [];
    const send = client.sendCommand.bind(client) as (command: Command, ...rest: unknown[]) => unknown;
    (client as { sendCommand: typeof send }).sendCommand = (command, ...rest) => {
      if ((command.name === "evalsha" || command.name === "eval") && String(command.args[2]).includes(":tag:{"))
        tagReads.push(performance.now());
      return send(command, ...rest);
    };
    const tag = `guild:${randomSnowflake()}`;
    const key = `lone:${randomSnowflake()}`;
    await writer.set(key, "old", { tags: [tag] });
    const reads = 20;
    for (let i = 0; i < reads; i += 1) expect(await lone.get(key)).toBe("old");
    expect(tagReads.length).toBeLessThanOrEqual(3);
    // The same count in its stats (`spywatcher_cache_tag_version_reads_total`): one version per script here.
    expect(lone.getLocalStats().invalidation.versionReads).toBe(tagReads.length);

    // The writer finds it in the second registry's live set and waits W for its acknowledgement (reading the first
    // registry alone, it would expect nobody and resolve at once while the lone instance still vouches for "old").
    expect(await timed(() => writer.invalidateByTag(tag))).toBeGreaterThanOrEqual(W - 10);
    expect(await lone.get(key)).toBeUndefined();
    await lone.close();
    expect(await registered(lone.instanceId)).toEqual([false, false]);
    // Gone from both: no longer waited for.
    await writer.invalidateByTag(`guild:${randomSnowflake()}`);
    expect(await timed(() => writer.invalidateByTag(`guild:${randomSnowflake()}`))).toBeLessThan(W / 2);
    await writer.close();
  });
  it("an instance silent on the bus serves L1 copies Redis confirmed less than W/2 ago, with vouched versions (rule 7), and never past W/2 after a key change", async () => {
    const writer = kit.cache({ redis: await connection(), subscriber: await connection(), invalidationWindowMs: W });
    await writer.ready();
    // As in the test above (the bus's sequence key and the first registry dead for it alone), with L1 on.
    const { cache: lone, client } = await restricted({ sequence: true, first: true, publish: true }, false, {
      l1: { maxEntries: 100 },
    });
    await vi.waitFor(async () => expect(await registered(lone.instanceId)).toEqual([false, true]), { interval: 10 });
    await vi.waitFor(() => expect(writer.trusted).toBe(true), { interval: 10, timeout: 5_000 });
    expect(lone.trusted).toBe(false);

    const gets: { at: number; key: string }[] = [];
    const send = client.sendCommand.bind(client) as (command: Command, ...rest: unknown[]) => unknown;
    (client as { sendCommand: typeof send }).sendCommand = (command, ...rest) => {
      if (command.name === "get") gets.push({ at: performance.now(), key: String(command.args[0]) });
      return send(command, ...rest);
    };
    const tag = `guild:${randomSnowflake()}`;
    const key = `confirmed:${randomSnowflake()}`;
    const fullKey = keys.entry(key);
    await writer.set(key, "old", { tags: [tag] });
    // What the service does: remember (get() does not count its hits); the loader never runs here.
    const read = () => lone.remember(key, "1m", async () => "loaded", { tags: [tag] });

    // Untrusted, yet most reads are served from L1: a GET only when the last confirmation is W/2 old (or the tag's
    // vouching lapsed, which reads the entry again with its version).
    const l1Before = lone.getLocalStats().instance.hits.l1;
    const started = performance.now();
    let reads = 0;
    while (performance.now() - started < W) {
      expect(await read()).toBe("old");
      reads += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const getsOfKey = gets.filter((get) => get.key === fullKey).length;
    expect(reads).toBeGreaterThan(50);
    // About one GET per W/4 (vouching lapses that often) over 2 W: a handful, against one per read before rule 7.
    expect(getsOfKey).toBeLessThanOrEqual(12);
    expect(lone.getLocalStats().instance.hits.l1 - l1Before).toBeGreaterThanOrEqual(reads - getsOfKey);

    // A key change it is not told of (written straight into Redis, no bus message): served the old copy at most W/2
    // after the write returned, never later. A sibling entry of the same tag is read first each time, so the tag's
    // vouching is renewed by the sibling's reads, not by this key's: only the confirmation bounds this copy.
    await writer.set(`${key}:next`, "new", { tags: [tag] });
    const sibling = () => lone.remember(`${key}:next`, "1m", async () => "loaded", { tags: [tag] });
    const newBytes = (await raw.get(keys.entry(`${key}:next`)))!;
    await raw.set(fullKey, newBytes, "PX", 60_000);
    const changedAt = performance.now();
    const seen: { at: number; value: unknown }[] = [];
    while (performance.now() - changedAt < W) {
      expect(await sibling()).toBe("new");
      const at = performance.now();
      seen.push({ at, value: await read() });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(seen.filter((read) => read.at >= changedAt + W / 2 && read.value !== "new")).toEqual([]);
    expect(seen.at(-1)!.value).toBe("new");

    // A tag invalidation resolves only once the lone instance's vouching has lapsed (it waits W for it), and the L1
    // copy is never served after that.
    expect(await read()).toBe("new");
    expect(await timed(() => writer.invalidateByTag(tag))).toBeGreaterThanOrEqual(W - 10);
    expect(await read()).toBe("loaded");
    await Promise.all([lone.close(), writer.close()]);
  });
});
