import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { SpyCache } from "../../../backend/src/cache/index.ts";
import { CacheKit, ready, testRedis } from "../../support/cache-test-kit.ts";
import { randomSnowflake } from "../../support/test-env.ts";

/** W of both instances: long enough that "resolved on acknowledgements" and "waited W" cannot be confused. */
const W = 2_000;

/**
 * An instance whose registration fails (as when the registry's master is down) but whose pings reach the bus: it
 * trusts its map from its own pings, so invalidators must wait for it although the registry does not list it
 * (docs/cache.md, "Tag invalidation", rule 4). The failure is injected by wrapping its real connection's ZADD.
 */
describe("an instance that pings on the bus but cannot register", () => {
  let kit: CacheKit;
  let raw: Redis;
  let a: SpyCache;
  let b: SpyCache;
  let bClient: Redis;
  const registry = () => `${kit.prefix}:_sys:v1:instances`;

  beforeAll(async () => {
    kit = new CacheKit("unregistered");
    raw = kit.track(testRedis());
    await ready(raw);
    a = kit.cache({ invalidationWindowMs: W });
    bClient = kit.track(testRedis());
    await ready(bClient);
    bClient.zadd = (() => Promise.reject(new Error("registry unreachable"))) as unknown as Redis["zadd"];
    // Its failed registrations must not open its breaker (on a cluster they would open only the registry master's).
    b = kit.cache({ redis: bClient, invalidationWindowMs: W, breaker: { failureThreshold: 1_000_000 } });
    await Promise.all([a.ready(), b.ready()]);
    await vi.waitFor(async () => expect(await raw.zscore(registry(), a.instanceId)).not.toBeNull(), { interval: 10 });
  });
  afterAll(async () => kit?.close());

  it("trusts its tag map from its own pings while absent from the registry", async () => {
    expect(b.trusted).toBe(true);
    expect(await raw.zscore(registry(), b.instanceId)).toBeNull();
  });

  it("is waited for: an invalidation does not resolve before it acknowledged, or before W", async () => {
    const tag = `guild:${randomSnowflake()}`;
    const key = `unregistered:${randomSnowflake()}`;
    await b.set(key, "old", { tags: [tag] });
    expect(await b.get(key)).toBe("old");
    // Its acknowledgements are lost (PUBLISH on its connection fails; the bus's own messages are a script).
    const publish = bClient.publish.bind(bClient);
    bClient.publish = (() => Promise.reject(new Error("ack lost"))) as unknown as Redis["publish"];
    try {
      const started = performance.now();
      await a.invalidateByTag(tag);
      expect(performance.now() - started).toBeGreaterThanOrEqual(W - 10);
    } finally {
      bClient.publish = publish;
    }
    expect(b.trusted).toBe(true);
    expect(await b.get(key)).toBeUndefined();
    // With its acknowledgements back, and a's view of the bus older than W/2: resolved on acknowledgements.
    await b.set(key, "newer", { tags: [tag] });
    const started = performance.now();
    await a.invalidateByTag(tag);
    expect(performance.now() - started).toBeLessThan(W / 2);
    expect(await b.get(key)).toBeUndefined();
  });

  it("once it closes (a leave message on the bus), it is no longer waited for", async () => {
    await b.close();
    const started = performance.now();
    await a.invalidateByTag(`guild:${randomSnowflake()}`);
    expect(performance.now() - started).toBeLessThan(W / 2);
  });
});
