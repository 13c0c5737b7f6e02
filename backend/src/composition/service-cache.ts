import { createCache, KeyBuilder, newCacheInstanceId, type SpyCache } from "../cache/index.ts";
import { milliseconds } from "../cache/duration.ts";
import { DistributedLock } from "../cache/lock/distributed-lock.ts";
import { CacheStatsRecorder } from "../cache/stats/cache-stats-recorder.ts";
import type { AppConfig } from "../config/config.ts";
import type { Logger } from "../logging/logger.ts";
import { countingLock, type LockCounters } from "../ops/counting-lock.ts";
import type { RedisConnections } from "../redis/redis-connections.ts";

/**
 * The cache layer on the service's Redis connections, under `<REDIS_KEY_PREFIX>:cache`, configured from CACHE_*.
 * The service and the CLI's `cache` commands build it here, so they read and write the same entries and stats.
 */
export function createServiceCache(config: AppConfig, redis: RedisConnections, logger: Logger): SpyCache {
  return createServiceCacheWithStats(config, redis, logger).cache;
}

/**
 * `createServiceCache`, also returning the cache's stats recorder (the service exports its counters on /metrics) and
 * its stampede lock counters (the lock failure rate alert).
 */
export function createServiceCacheWithStats(
  config: AppConfig,
  redis: RedisConnections,
  logger: Logger,
): { cache: SpyCache; stats: CacheStatsRecorder; lockCounters: () => LockCounters } {
  const prefix = `${config.redis.keyPrefix}:cache`;
  const { cache: options } = config;
  const instanceId = newCacheInstanceId();
  const stats = new CacheStatsRecorder({ redis: redis.client, prefix, instanceId, ...options.stats });
  // The same lock the cache would build itself, counted.
  const lockPrefix = new KeyBuilder({ prefix, version: options.version }).lockPrefix();
  const locks = countingLock(new DistributedLock(redis.client, { prefix: lockPrefix }));
  const cache = createCache({
    instanceId,
    redis: redis.client,
    subscriber: redis.subscriber,
    prefix,
    logger,
    version: options.version,
    defaultTtl: milliseconds(options.defaultTtlMs),
    grace: milliseconds(options.graceMs),
    staleWhileRevalidate: options.staleWhileRevalidate,
    refreshAheadAt: options.refreshAheadAt,
    softTimeout: options.softTimeoutMs === undefined ? undefined : milliseconds(options.softTimeoutMs),
    hardTimeout: options.hardTimeoutMs === undefined ? undefined : milliseconds(options.hardTimeoutMs),
    compressAboveBytes: options.compressAboveBytes,
    l1: options.l1,
    invalidationWindowMs: options.invalidationWindowMs,
    softInvalidationStaleMs: options.softInvalidationStaleMs,
    lockWaitMs: options.lockWaitMs,
    lockTtlMs: options.lockTtlMs,
    breaker: options.breaker,
    // One breaker per master: say which one changed (a master's outage costs only its own slots).
    onBreakerStateChange: (node, from, to) =>
      (to === "closed" ? logger.info.bind(logger) : logger.warn.bind(logger))(
        { node, from, to },
        "cache circuit breaker changed state",
      ),
    stats,
    lockService: locks.lock,
  });
  return { cache, stats, lockCounters: locks.counters };
}
