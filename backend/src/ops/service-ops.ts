import type { SpyCache } from "../cache/index.ts";
import { KeyBuilder } from "../cache/keys/key-builder.ts";
import type { CacheStatsRecorder } from "../cache/stats/cache-stats-recorder.ts";
import type { AppConfig } from "../config/config.ts";
import type { Logger } from "../logging/logger.ts";
import type { RedisClient } from "../redis/redis-connections.ts";
import { AlertHistory } from "./alert-history.ts";
import { CacheHealthScorer } from "./cache-health-scorer.ts";
import { CacheMaintenance } from "./cache-maintenance.ts";
import type { LockCounters } from "./counting-lock.ts";
import { InvalidationLog } from "./invalidation-log.ts";
import { OpsKeys } from "./ops-keys.ts";
import { ScheduledCleanup } from "./scheduled-cleanup.ts";

/** The operators' tools of one process (service or CLI), on its Redis connection. */
export interface ServiceOps {
  keys: OpsKeys;
  invalidationLog: InvalidationLog;
  alertHistory: AlertHistory;
  scorer: CacheHealthScorer;
  maintenance: CacheMaintenance;
  scheduledCleanup: ScheduledCleanup;
  /** Stampede lock counters of this process's cache (zeros when the cache was built without the counting lock). */
  lockCounters: () => LockCounters;
  close(): Promise<void>;
}

/** What the operators' tools are built on. */
export interface ServiceOpsSources {
  redis: RedisClient;
  recorder: Pick<CacheStatsRecorder, "fleetStats" | "snapshot">;
  lockCounters?: () => LockCounters;
}

/** Builds the invalidation log, alert history, health scorer, cache maintenance and scheduled cleanup from config. */
export function createServiceOps(config: AppConfig, sources: ServiceOpsSources, logger: Logger): ServiceOps {
  const keys = new OpsKeys(config.redis.keyPrefix);
  const { ops, alerts } = config;
  const invalidationLog = new InvalidationLog({
    redis: sources.redis,
    key: keys.invalidations(),
    maxEntries: ops.invalidationLogMaxEntries,
    logger,
  });
  const alertHistory = new AlertHistory({
    redis: sources.redis,
    key: keys.alertHistory(),
    maxEntries: ops.alertHistoryMaxEntries,
    instance: alerts.instance,
    logger,
  });
  const scorer = new CacheHealthScorer({
    recorder: sources.recorder,
    windowMs: ops.scoreWindowMs,
    targets: {
      targetResponseMs: ops.scoreTargetResponseMs,
      maxResponseMs: alerts.cacheP99MaxMs,
      maxErrorRatePercent: alerts.errorRateMaxPercent,
    },
  });
  const maintenance = new CacheMaintenance(sources.redis, cacheKeys(config));
  const scheduledCleanup = new ScheduledCleanup({
    redis: sources.redis,
    maintenance,
    keys,
    logger,
    log: invalidationLog,
    intervalMs: ops.cleanupIntervalMs,
    maxKeysPerRun: ops.cleanupMaxKeysPerRun,
  });
  return {
    keys,
    invalidationLog,
    alertHistory,
    scorer,
    maintenance,
    scheduledCleanup,
    lockCounters: sources.lockCounters ?? (() => ({ attempts: 0, acquired: 0, contended: 0, failures: 0 })),
    close: () => scheduledCleanup.close(),
  };
}

/** The key builder of the service's cache (`<REDIS_KEY_PREFIX>:cache`, CACHE_VERSION): the same keys the cache uses. */
export function cacheKeys(config: AppConfig): KeyBuilder {
  return new KeyBuilder({ prefix: `${config.redis.keyPrefix}:cache`, version: config.cache.version });
}

/** The cache operations the admin extras and CLI use, for their types. */
export type OpsCache = Pick<
  SpyCache,
  | "delete"
  | "deleteByPattern"
  | "invalidateByTags"
  | "invalidateByTagsWithReport"
  | "clear"
  | "getStats"
  | "getLocalStats"
>;
