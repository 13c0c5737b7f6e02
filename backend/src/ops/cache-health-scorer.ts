import type { CacheStatsRecorder } from "../cache/stats/cache-stats-recorder.ts";
import type { CacheStats } from "../cache/stats/cache-stats-types.ts";
import { withTimeout } from "../lib/with-timeout.ts";
import { computeHealthScore, type HealthScore, type HealthScoreTargets } from "./health-score.ts";

/** Options of a `CacheHealthScorer`. */
export interface CacheHealthScorerOptions {
  recorder: Pick<CacheStatsRecorder, "fleetStats" | "snapshot">;
  targets: HealthScoreTargets;
  /** The window the score covers, in ms (HEALTH_SCORE_WINDOW_MS, default 300,000). */
  windowMs: number;
  /** Bound of the fleet read, in ms (default 1,000). */
  timeoutMs?: number;
}

/**
 * Computes the cache health score over the fleet's last `windowMs` (every instance's flushed windows), or over this
 * instance's numbers since the last reset when Redis does not answer in time. Keeps the last score for /metrics.
 */
export class CacheHealthScorer {
  private latest: HealthScore | undefined;
  private baseline: CacheStats | undefined;
  private resetAt: number | undefined;

  constructor(private readonly options: CacheHealthScorerOptions) {}

  /** The score now. Never rejects. */
  async score(): Promise<HealthScore> {
    const { windowMs } = this.options;
    const fleet = await withTimeout(
      this.options.recorder.fleetStats({ lastMs: windowMs }),
      this.options.timeoutMs ?? 1_000,
      "fleet stats",
    ).catch(() => undefined);
    this.latest = fleet
      ? computeHealthScore(fleet, this.options.targets, "fleet-window", windowMs)
      : computeHealthScore(this.sinceReset(), this.options.targets, "instance", windowMs);
    return this.latest;
  }

  /** The last score computed, if any. */
  last(): HealthScore | undefined {
    return this.latest;
  }

  /**
   * This instance's counters since the last `reset()` (since start before any). Latency summaries stay lifetime:
   * percentiles cannot be subtracted.
   */
  sinceReset(): CacheStats & { since: string } {
    const now = this.options.recorder.snapshot();
    const base = this.baseline;
    const since = new Date(this.resetAt ?? now.since).toISOString();
    if (!base) return { ...pick(now), since };
    const hits = {
      l1: now.hits.l1 - base.hits.l1,
      l2: now.hits.l2 - base.hits.l2,
      total: now.hits.total - base.hits.total,
    };
    const stale = now.stale - base.stale;
    const lookups = now.lookups - base.lookups;
    return {
      hits,
      misses: now.misses - base.misses,
      stale,
      errors: now.errors - base.errors,
      bypasses: now.bypasses - base.bypasses,
      lookups,
      hitRatePercent: lookups === 0 ? null : Math.round(((hits.total + stale) / lookups) * 10_000) / 100,
      redisLatencyMs: now.redisLatencyMs,
      loaderLatencyMs: now.loaderLatencyMs,
      since,
    };
  }

  /** Starts the in-process counters' view from zero (Prometheus counters and fleet totals stay monotonic). */
  reset(): { resetAt: string } {
    this.baseline = pick(this.options.recorder.snapshot());
    this.resetAt = Date.now();
    return { resetAt: new Date(this.resetAt).toISOString() };
  }
}

function pick(stats: CacheStats): CacheStats {
  const { hits, misses, stale, errors, bypasses, lookups, hitRatePercent, redisLatencyMs, loaderLatencyMs } = stats;
  return {
    hits: { ...hits },
    misses,
    stale,
    errors,
    bypasses,
    lookups,
    hitRatePercent,
    redisLatencyMs,
    loaderLatencyMs,
  };
}
