import type { DashboardSample } from "./dashboard-load.ts";

/** Latency percentiles of a group of requests, ms. */
export interface LatencyStats {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Hit rate and latencies of the dashboard traffic. */
export interface DashboardStats {
  analytics: LatencyStats;
  static: LatencyStats;
  /** Analytics responses by X-Cache value (HIT, STALE, MISS, BYPASS, or "error"). */
  byCache: Map<string, LatencyStats>;
  /** Analytics responses by analytic. */
  byType: Map<string, LatencyStats & { misses: number }>;
  /** (HIT + STALE) / all analytics requests (errors count as not hit). */
  hitRate: number;
  /** Requests that did not answer 200 (analytics and static), with the first error seen. */
  errors: number;
  firstError?: string;
}

/** The p-th percentile (nearest rank) of sorted values; NaN when empty. */
export function percentileOf(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Percentiles of the latencies (end - start) of `samples`. */
export function latencyStats(samples: DashboardSample[]): LatencyStats {
  const sorted = samples.map((sample) => sample.endedAt - sample.startedAt).sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentileOf(sorted, 50),
    p99: percentileOf(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

function groupBy(samples: DashboardSample[], key: (sample: DashboardSample) => string): Map<string, DashboardSample[]> {
  const groups = new Map<string, DashboardSample[]>();
  for (const sample of samples) {
    const name = key(sample);
    groups.set(name, [...(groups.get(name) ?? []), sample]);
  }
  return groups;
}

/** Summarises the samples of one run. */
export function dashboardStats(samples: DashboardSample[]): DashboardStats {
  const analytics = samples.filter((sample) => sample.target === "analytics");
  const failed = samples.filter((sample) => sample.status !== 200);
  const hits = analytics.filter(
    (sample) => sample.status === 200 && (sample.cache === "HIT" || sample.cache === "STALE"),
  ).length;
  const byCache = new Map(
    [...groupBy(analytics, (sample) => (sample.status === 200 ? (sample.cache ?? "none") : "error"))].map(
      ([name, group]) => [name, latencyStats(group)],
    ),
  );
  const byType = new Map(
    [...groupBy(analytics, (sample) => sample.type)].map(([name, group]) => [
      name,
      { ...latencyStats(group), misses: group.filter((sample) => sample.cache === "MISS").length },
    ]),
  );
  const stats: DashboardStats = {
    analytics: latencyStats(analytics),
    static: latencyStats(samples.filter((sample) => sample.target === "static")),
    byCache,
    byType,
    hitRate: analytics.length ? hits / analytics.length : 0,
    errors: failed.length,
  };
  if (failed[0])
    stats.firstError = `${failed[0].target} ${failed[0].type}: ${failed[0].status} ${failed[0].error ?? ""}`;
  return stats;
}
