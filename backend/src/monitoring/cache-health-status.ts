import type { SpyCacheStats } from "../cache/index.ts";

/** Thresholds of the cache's health status (document 001's "Key Metrics"). */
export interface CacheStatusThresholds {
  /** Hit rate (%) the cache should stay above (ALERT_CACHE_HIT_RATE_MIN, default 80). */
  hitRateMinPercent: number;
  /** Lookups needed before the hit rate is judged (ALERT_CACHE_HIT_RATE_MIN_LOOKUPS, default 100). */
  minLookups: number;
  /** Memory of this application's keys it should stay under, in bytes (CACHE_MEMORY_LIMIT_BYTES, default 2 GiB). */
  memoryLimitBytes: number;
}

/** The default thresholds: 80 %, 100 lookups, 2 GiB. */
export const DEFAULT_CACHE_STATUS_THRESHOLDS: CacheStatusThresholds = {
  hitRateMinPercent: 80,
  minLookups: 100,
  memoryLimitBytes: 2 * 1024 ** 3,
};

/** A status and, when it is not healthy, why. */
export interface CacheHealthStatus {
  status: "healthy" | "degraded" | "unhealthy";
  reasons: string[];
}

/**
 * Judges the cache from its stats: unhealthy when Redis did not answer (or the breaker is open); degraded when the
 * hit rate is at or under the minimum (once there were enough lookups) or this application's keys use more memory
 * than the limit; healthy otherwise.
 */
export function cacheHealthStatus(
  stats: SpyCacheStats,
  thresholds: CacheStatusThresholds = DEFAULT_CACHE_STATUS_THRESHOLDS,
): CacheHealthStatus {
  const unhealthy: string[] = [];
  if (stats.fleet === null)
    unhealthy.push(
      "Redis did not answer the stats read: the cache is unreachable, requests run their loaders directly",
    );
  if (stats.breaker.state === "open") unhealthy.push("the circuit breaker is open: Redis calls are skipped");
  if (unhealthy.length > 0) return { status: "unhealthy", reasons: unhealthy };
  const degraded: string[] = [];
  const lookups = stats.hits + stats.misses;
  if (lookups >= thresholds.minLookups && stats.hitRate <= thresholds.hitRateMinPercent) {
    degraded.push(`hit rate ${stats.hitRate}% is not above ${thresholds.hitRateMinPercent}% (${lookups} lookups)`);
  }
  if (stats.keyspace && stats.keyspace.estimatedBytes >= thresholds.memoryLimitBytes) {
    degraded.push(
      `this application's keys use about ${stats.memoryUsed}, over the limit of ${thresholds.memoryLimitBytes} bytes`,
    );
  }
  return degraded.length > 0 ? { status: "degraded", reasons: degraded } : { status: "healthy", reasons: [] };
}
