import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import type { Cluster, Redis } from "ioredis";
import type { RedisClient } from "../redis/redis-connections.ts";
import type { CacheContext } from "./cache-context.ts";
import { resolveCacheOptions, type CreateCacheOptions } from "./cache-options.ts";
import { InvalidationBus } from "./tags/invalidation-bus.ts";
import { KeyBuilder } from "./keys/key-builder.ts";
import { L1Store } from "./read/l1-store.ts";
import { DistributedLock } from "./lock/distributed-lock.ts";
import { RedisGateway } from "./transport/redis-gateway.ts";
import { CircuitBreaker } from "./transport/circuit-breaker.ts";
import { isRedisFailure, NodeBreakers } from "./transport/node-breakers.ts";
import { SpyCache } from "./spy-cache.ts";
import { CacheStatsRecorder } from "./stats/cache-stats-recorder.ts";
import { TagVersionStore } from "./tags/tag-version-store.ts";

export type {
  Cache,
  CacheResult,
  CacheStatus,
  Duration,
  InvalidateOptions,
  RememberOptions,
  SetOptions,
} from "./cache-types.ts";
export type { CreateCacheOptions } from "./cache-options.ts";
export type { InvalidationResult } from "./spy-cache.ts";
export type { SpyCacheStats } from "./stats/cache-stats-report.ts";
export type { WarmEntry, WarmReport } from "./read/batch-operations.ts";
export * from "./cache-errors.ts";
export { parseDuration, TTL_PRESETS, type TtlPreset } from "./duration.ts";
export { KeyBuilder } from "./keys/key-builder.ts";
export { SpyCache } from "./spy-cache.ts";
export { CacheStructures, type StructureWriteOptions } from "./structures/data-structures.ts";
export { StructureBatch } from "./structures/structure-batch.ts";

/**
 * Builds a cache on an ioredis connection (single `Redis` or `Cluster`), usable on its own:
 * `const cache = createCache({ redis }); await cache.remember("k", "5m", load, { tags: ["guild:1"] })`.
 * Call `close()` when done (the connection you passed is yours to close).
 */
export function createCache(options: CreateCacheOptions): SpyCache {
  const resolved = resolveCacheOptions(options);
  const keys = new KeyBuilder({
    prefix: resolved.prefix,
    version: resolved.version,
    maxKeyLength: resolved.maxKeyLength,
  });
  const instanceId = options.instanceId ?? newCacheInstanceId();
  const stats = options.stats ?? new CacheStatsRecorder({ redis: options.redis, prefix: resolved.prefix, instanceId });
  const breakers = new NodeBreakers(options.redis, {
    breaker:
      options.breaker instanceof CircuitBreaker ? options.breaker : { isFailure: isRedisFailure, ...options.breaker },
    probeTimeoutMs: commandTimeoutOf(options.redis) ?? resolved.fallbackCommandTimeoutMs,
    ...(options.breakerProbeIntervalMs === undefined ? {} : { probeIntervalMs: options.breakerProbeIntervalMs }),
    ...(options.onBreakerStateChange ? { onNodeStateChange: options.onBreakerStateChange } : {}),
  });
  // Timed statistics flushes wait while their master's breaker is open (see CacheStatsRecorder.flushGate).
  if (stats instanceof CacheStatsRecorder) stats.flushGate ??= (key) => breakers.forKey(key).state !== "open";
  const gateway = new RedisGateway(options.redis, breakers, stats, resolved.fallbackCommandTimeoutMs);
  const tags = new TagVersionStore(gateway, keys, resolved.tagTtlMs);
  const ownedSubscriber = options.subscriber ? undefined : openSubscriber(options.redis);
  const bus = new InvalidationBus({
    gateway,
    subscriber: options.subscriber ?? ownedSubscriber!,
    keys,
    tagStore: tags,
    instanceId,
    windowMs: resolved.invalidationWindowMs,
    liveWindowMs: resolved.liveWindowMs,
  });
  const ctx: CacheContext = {
    options: resolved,
    gateway,
    keys,
    tags,
    bus,
    l1: resolved.l1 ? new L1Store(resolved.l1) : undefined,
    stats,
    lock: resolved.lock
      ? (options.lockService ?? new DistributedLock(options.redis, { prefix: keys.lockPrefix() }))
      : undefined,
    events: new EventEmitter(),
    logger: options.logger,
  };
  const cache = new SpyCache(ctx, ownedSubscriber);
  // The cache itself is the emitter users listen on.
  ctx.events = cache;
  bus.start();
  return cache;
}

/** A new id of this process on the cache's bus and in the fleet stats: host:pid:random. */
export function newCacheInstanceId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
}

/** A subscriber with an offline queue and no command timeout, so its subscriptions survive reconnects. */
function openSubscriber(redis: RedisClient): RedisClient {
  const subscriber = (redis as Cluster).isCluster
    ? (redis as Cluster).duplicate(undefined, {
        enableOfflineQueue: true,
        redisOptions: {
          ...(redis as Cluster).options.redisOptions,
          commandTimeout: undefined,
          connectionName: "spywatcher:cache-bus",
        },
      })
    : (redis as Redis).duplicate({
        enableOfflineQueue: true,
        commandTimeout: undefined,
        maxRetriesPerRequest: null,
        connectionName: "spywatcher:cache-bus",
      });
  subscriber.on("error", () => undefined);
  return subscriber;
}

/** The per-command timeout the connection applies itself, if any. */
function commandTimeoutOf(redis: RedisClient): number | undefined {
  return (redis as Cluster).isCluster
    ? (redis as Cluster).options.redisOptions?.commandTimeout
    : (redis as Redis).options.commandTimeout;
}
