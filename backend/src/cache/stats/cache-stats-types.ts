import type { LatencyHistogram, LatencySummary } from "./latency-histogram.ts";

/** The raw counters of this application's cache use (never Redis's server-wide keyspace counters). */
export interface CacheCounters {
  /** Fresh values served from the in-process tier. */
  hitsL1: number;
  /** Fresh values served from Redis. */
  hitsL2: number;
  /** Values the loader had to compute. */
  misses: number;
  /** Values served past their fresh TTL (stale-while-revalidate or stale-if-error). */
  stale: number;
  /** Failed Redis operations (timeouts, connection errors) seen by the cache. */
  errors: number;
  /** Calls that skipped Redis (breaker open or Redis failing) and ran the loader directly. */
  bypasses: number;
}

/** The lookups of one stats label (`RememberOptions.statsLabel`, e.g. an analytic type). */
export interface LabelCounters {
  /** Fresh values served (L1 or L2). */
  hits: number;
  stale: number;
  misses: number;
  bypasses: number;
}

/** One label's counts with its lookups and hit rate (same formula as the totals). */
export interface LabelStats extends LabelCounters {
  lookups: number;
  hitRatePercent: number | null;
}

/** Cache statistics of one instance or of the whole fleet. */
export interface CacheStats {
  hits: { l1: number; l2: number; total: number };
  misses: number;
  stale: number;
  errors: number;
  bypasses: number;
  /** hits + stale + misses + bypasses: every lookup that produced a value. */
  lookups: number;
  /** (hits + stale) / lookups, in percent with two decimals; null before the first lookup. */
  hitRatePercent: number | null;
  /** Latency of Redis calls made by the cache. */
  redisLatencyMs: LatencySummary;
  /** Latency of loader (factory) runs. */
  loaderLatencyMs: LatencySummary;
  /** Per stats label (analytics pass their type): hits, stale, misses, bypasses and hit rate. */
  byLabel?: Record<string, LabelStats>;
}

/** This instance's statistics since it started. */
export interface LocalCacheStats extends CacheStats {
  scope: "instance";
  instanceId: string;
  /** Epoch ms the recorder was created. */
  since: number;
  /** Flushes to Redis that failed (their deltas are kept and sent with the next flush). */
  flushFailures: number;
}

/** Statistics summed over every instance that flushed to the same prefix. */
export interface FleetCacheStats extends CacheStats {
  scope: "fleet";
  /** "lifetime": totals since the stats keys were created; otherwise the time windows that were summed. */
  range: { kind: "lifetime" } | { kind: "window"; from: number; to: number; windowMs: number };
  /** Instances that flushed within the last three flush intervals (or 15 s, whichever is longer). */
  activeInstances: string[];
}

/** Builds the shared part of the statistics from counters and the two histograms. */
export function buildStats(
  counters: CacheCounters,
  redis: LatencyHistogram,
  loader: LatencyHistogram,
  labels: ReadonlyMap<string, LabelCounters> = new Map(),
): CacheStats {
  const hits = counters.hitsL1 + counters.hitsL2;
  const lookups = hits + counters.stale + counters.misses + counters.bypasses;
  return {
    hits: { l1: counters.hitsL1, l2: counters.hitsL2, total: hits },
    misses: counters.misses,
    stale: counters.stale,
    errors: counters.errors,
    bypasses: counters.bypasses,
    lookups,
    hitRatePercent: hitRate(hits + counters.stale, lookups),
    redisLatencyMs: redis.summary(),
    loaderLatencyMs: loader.summary(),
    byLabel: Object.fromEntries(
      [...labels].sort(([a], [b]) => a.localeCompare(b)).map(([label, c]) => [label, labelStats(c)]),
    ),
  };
}

/** A label's counts with lookups and hit rate. */
export function labelStats(c: LabelCounters): LabelStats {
  const lookups = c.hits + c.stale + c.misses + c.bypasses;
  return {
    hits: c.hits,
    stale: c.stale,
    misses: c.misses,
    bypasses: c.bypasses,
    lookups,
    hitRatePercent: hitRate(c.hits + c.stale, lookups),
  };
}

function hitRate(served: number, lookups: number): number | null {
  return lookups === 0 ? null : Math.round((served / lookups) * 10_000) / 100;
}
