import type { CacheStats } from "../cache/stats/cache-stats-types.ts";

/** The weights of the score's three parts (from the widget cache design): they sum to 1. */
export const HEALTH_SCORE_WEIGHTS = { hitRate: 0.5, responseTime: 0.3, errorRate: 0.2 } as const;

/** What the response-time and error-rate parts are measured against. */
export interface HealthScoreTargets {
  /** p99 at or under this scores 100 (HEALTH_SCORE_TARGET_RESPONSE_MS, default 200). */
  targetResponseMs: number;
  /** p99 at this scores 50 (ALERT_CACHE_P99_MAX_MS, default 500); 0 at twice as far past the target. */
  maxResponseMs: number;
  /** Error rate (%) at this scores 50 (ALERT_ERROR_RATE_MAX_PERCENT, default 1); 0 at twice it. */
  maxErrorRatePercent: number;
}

/** A health score with its parts and what it was computed from. */
export interface HealthScore {
  /** 0-100, rounded. */
  score: number;
  /** healthy (>= 90), degraded (>= 70), unhealthy. */
  grade: "healthy" | "degraded" | "unhealthy";
  components: { hitRate: number; responseTime: number; errorRate: number };
  inputs: { lookups: number; hitRatePercent: number | null; p99Ms: number | null; errorRatePercent: number | null };
  /** "fleet-window": every instance over the last windowMs; "instance": this process only (Redis did not answer). */
  basis: "fleet-window" | "instance";
  windowMs: number;
}

/**
 * The cache health score:
 *   score = 0.5 * H + 0.3 * R + 0.2 * E, where
 *   H = hit rate in percent ((hits + stale) / lookups);
 *   R = 100 when the Redis p99 <= target, else 100 - 50 * (p99 - target) / (max - target), at least 0;
 *   E = 100 - 50 * errorRate / maxErrorRate, at least 0 (errorRate = Redis errors / lookups, in percent).
 * A part with nothing to measure (no lookups, no Redis call) counts 100: no evidence of trouble.
 */
export function computeHealthScore(
  stats: CacheStats,
  targets: HealthScoreTargets,
  basis: HealthScore["basis"],
  windowMs: number,
): HealthScore {
  const p99Ms = stats.redisLatencyMs.count > 0 ? stats.redisLatencyMs.p99Ms : null;
  const errorRatePercent = stats.lookups > 0 ? round((stats.errors / stats.lookups) * 100) : null;
  const hitRate = stats.hitRatePercent ?? 100;
  const responseTime =
    p99Ms === null || p99Ms <= targets.targetResponseMs
      ? 100
      : clamp(
          100 -
            (50 * (p99Ms - targets.targetResponseMs)) / Math.max(1, targets.maxResponseMs - targets.targetResponseMs),
        );
  const errorRate =
    errorRatePercent === null ? 100 : clamp(100 - (50 * errorRatePercent) / targets.maxErrorRatePercent);
  const score = Math.round(
    HEALTH_SCORE_WEIGHTS.hitRate * hitRate +
      HEALTH_SCORE_WEIGHTS.responseTime * responseTime +
      HEALTH_SCORE_WEIGHTS.errorRate * errorRate,
  );
  return {
    score,
    grade: score >= 90 ? "healthy" : score >= 70 ? "degraded" : "unhealthy",
    components: { hitRate: round(hitRate), responseTime: round(responseTime), errorRate: round(errorRate) },
    inputs: { lookups: stats.lookups, hitRatePercent: stats.hitRatePercent, p99Ms, errorRatePercent },
    basis,
    windowMs,
  };
}

function clamp(value: number): number {
  return Math.min(100, Math.max(0, value));
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
