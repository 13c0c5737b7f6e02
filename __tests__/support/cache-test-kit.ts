import { Redis } from "ioredis";
import { createCache, type CreateCacheOptions, type SpyCache } from "../../backend/src/cache/index.ts";
import type { RedisClient } from "../../backend/src/redis/redis-connections.ts";
import { TEST_REDIS_URL, uniquePrefix } from "./test-env.ts";

/** A command connection like the service's: short command timeout, no offline queue. */
export function testRedis(url = TEST_REDIS_URL): Redis {
  const redis = new Redis(url, {
    commandTimeout: 250,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(20 * 2 ** attempt, 200),
  });
  redis.on("error", () => undefined);
  return redis;
}

/** Resolves once `redis` is ready (or at once if it is). */
export async function ready(redis: RedisClient): Promise<void> {
  if (redis.status === "ready") return;
  await new Promise<void>((resolve) => redis.once("ready", () => resolve()));
}

/** Tracks caches and connections a test opened, and closes them all. */
export class CacheKit {
  private readonly caches: SpyCache[] = [];
  private readonly connections: RedisClient[] = [];
  readonly prefix: string;

  constructor(label: string) {
    this.prefix = uniquePrefix(label);
  }

  /** A connection to close at the end. */
  track<T extends RedisClient>(connection: T): T {
    this.connections.push(connection);
    return connection;
  }

  /** A cache on this kit's prefix (a fresh connection unless one is given). */
  cache(options: Partial<CreateCacheOptions> = {}): SpyCache {
    const redis = options.redis ?? this.track(testRedis());
    const cache = createCache({ prefix: this.prefix, ...options, redis });
    this.caches.push(cache);
    return cache;
  }

  /** Closes every cache, deletes this prefix's keys, closes every connection. */
  async close(): Promise<void> {
    await Promise.allSettled(this.caches.map((cache) => cache.close()));
    const cleaner = this.connections.find((c) => c.status === "ready");
    if (cleaner) await deletePrefix(cleaner, this.prefix).catch(() => undefined);
    for (const connection of this.connections) connection.disconnect();
  }
}

/** Deletes every key under `prefix` (SCAN + UNLINK, per master). */
export async function deletePrefix(redis: RedisClient, prefix: string): Promise<void> {
  const nodes = "nodes" in redis && redis.isCluster ? redis.nodes("master") : [redis as Redis];
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      cursor = next;
      for (const key of keys) await node.unlink(key);
    } while (cursor !== "0");
  }
}

/** A promise with its resolve function, for loaders a test releases by hand. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** How long `promise` took to reject (it must reject), in ms from `started` (performance.now()), and with what. */
export async function rejectionAfter(
  promise: Promise<unknown>,
  started: number,
): Promise<{ ms: number; error: Error }> {
  try {
    await promise;
  } catch (error) {
    return { ms: performance.now() - started, error: error as Error };
  }
  throw new Error("expected a rejection");
}

/** Rewrites a stored entry as if it had been created `ageMs` ago with `freshMs` of fresh TTL (same grace length). */
export async function ageEntry(redis: RedisClient, fullKey: string, ageMs: number, freshMs: number): Promise<void> {
  const stored = JSON.parse((await redis.get(fullKey))!);
  const createdAt = Date.now() - ageMs;
  const graceMs = stored.graceUntil - stored.freshUntil;
  stored.createdAt = createdAt;
  stored.freshUntil = createdAt + freshMs;
  stored.graceUntil = stored.freshUntil + graceMs;
  await redis.set(fullKey, JSON.stringify(stored), "KEEPTTL");
}

/** A loader whose calls are counted, whose value is the call number, and which can be held at a gate. */
export function countingLoader() {
  const state = { calls: 0, gate: undefined as Promise<void> | undefined };
  const load = async () => {
    state.calls += 1;
    const n = state.calls;
    if (state.gate) await state.gate;
    return { n };
  };
  return { state, load };
}
