import KeyvRedis from "@keyv/redis";
import { BentoCache, bentostore } from "bentocache";
import { memoryDriver } from "bentocache/drivers/memory";
import { redisDriver } from "bentocache/drivers/redis";
import { createCache } from "cache-manager";
import { Keyv } from "keyv";
import { BENCH_REDIS_URL, openBenchRedis } from "./bench-redis.ts";
import { missLoader, type CacheSubject } from "./cache-subject.ts";

/** Options of one competitor subject. */
export interface CompetitorOptions {
  /** Key namespace of this run, so runs never share keys. */
  prefix: string;
  /** With an in-process memory tier in front of Redis. */
  l1: boolean;
  /** bentocache only: store L1 entries as objects instead of JSON strings (bentocache's default is true). */
  bentoSerializeL1?: boolean;
}

/**
 * bentocache 1.6 on our ioredis 6 connection (the npm override makes it resolve ioredis 6; an ioredis instance is
 * passed in, so it never builds its own). With `l1`, its memory driver sits in front of its redis driver.
 */
export function bentocacheSubject(options: CompetitorOptions): CacheSubject {
  const redis = openBenchRedis();
  let store = bentostore();
  if (options.l1) {
    store = store.useL1Layer(memoryDriver({ maxItems: 10_000, serialize: options.bentoSerializeL1 ?? true }));
  }
  store = store.useL2Layer(redisDriver({ connection: redis, prefix: `${options.prefix}:bento` }));
  const bento = new BentoCache({ default: "bench", stores: { bench: store } });
  const serializeNote = options.l1 && options.bentoSerializeL1 === false ? " (serialize: false)" : "";
  return {
    name: `bentocache ${options.l1 ? "L1+L2" : "L2"}${serializeNote}`,
    seed: async (keys, value) => {
      for (const key of keys) await bento.set({ key, value, ttl: "10m" });
    },
    read: (key) => bento.getOrSet({ key, ttl: "10m", factory: missLoader }),
    close: async () => {
      await bento.disconnect();
      if (redis.status !== "end") redis.disconnect();
    },
  };
}

/**
 * cache-manager 7 with keyv + @keyv/redis (which runs on node-redis, its only Redis adapter); with `l1`, a keyv
 * in-memory store (a Map, keyv's default) is the first tier.
 */
export function cacheManagerSubject(options: CompetitorOptions): CacheSubject {
  const redisStore = new Keyv({ store: new KeyvRedis(BENCH_REDIS_URL), namespace: `${options.prefix}:cm` });
  const stores = options.l1 ? [new Keyv(), redisStore] : [redisStore];
  const cache = createCache({ stores });
  return {
    name: `cache-manager ${options.l1 ? "L1+L2" : "L2"}`,
    seed: async (keys, value) => {
      await cache.mset(keys.map((key) => ({ key, value, ttl: 600_000 })));
    },
    read: (key) => cache.wrap(key, missLoader, 600_000),
    close: async () => {
      await cache.disconnect();
    },
  };
}
