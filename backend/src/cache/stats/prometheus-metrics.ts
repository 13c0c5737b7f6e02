import { Counter, Gauge, type Registry } from "prom-client";
import type { CacheStatsRecorder } from "./cache-stats-recorder.ts";

/** The metrics `registerCacheMetrics` adds, for callers that want to unregister them. */
export interface CacheMetrics {
  lookups: Counter<"outcome">;
  errors: Counter;
  latency: Gauge<"source" | "quantile">;
  latencyCount: Counter<"source">;
}

/**
 * Exposes a recorder's statistics (this instance's) as Prometheus metrics, read at scrape time, so recording
 * stays a plain counter increment:
 * - `<prefix>lookups_total{outcome="hit_l1"|"hit_l2"|"miss"|"stale"|"bypass"}`
 * - `<prefix>errors_total`
 * - `<prefix>latency_ms{source="redis"|"loader", quantile="0.5"|"0.95"|"0.99"}`, `<prefix>latency_observations_total{source}`
 * Fleet figures come from summing instances in Prometheus itself. `namePrefix` defaults to "spywatcher_cache_".
 */
export function registerCacheMetrics(
  registry: Registry,
  recorder: CacheStatsRecorder,
  namePrefix = "spywatcher_cache_",
): CacheMetrics {
  const lookups = new Counter({
    name: `${namePrefix}lookups_total`,
    help: "Cache lookups of this application by outcome",
    labelNames: ["outcome"] as const,
    registers: [registry],
    collect() {
      const stats = recorder.snapshot();
      this.reset();
      this.inc({ outcome: "hit_l1" }, stats.hits.l1);
      this.inc({ outcome: "hit_l2" }, stats.hits.l2);
      this.inc({ outcome: "miss" }, stats.misses);
      this.inc({ outcome: "stale" }, stats.stale);
      this.inc({ outcome: "bypass" }, stats.bypasses);
    },
  });
  const errors = new Counter({
    name: `${namePrefix}errors_total`,
    help: "Failed Redis operations seen by the cache",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(recorder.snapshot().errors);
    },
  });
  const latency = new Gauge({
    name: `${namePrefix}latency_ms`,
    help: "Latency percentiles of the cache's Redis calls and loaders since start, in ms (log-scale buckets, ±4.5%)",
    labelNames: ["source", "quantile"] as const,
    registers: [registry],
    collect() {
      const stats = recorder.snapshot();
      this.reset();
      for (const [source, summary] of [["redis", stats.redisLatencyMs], ["loader", stats.loaderLatencyMs]] as const) {
        // An empty histogram has no percentiles: leave the series out rather than report a fake 0.
        if (summary.count === 0) continue;
        this.set({ source, quantile: "0.5" }, summary.p50Ms!);
        this.set({ source, quantile: "0.95" }, summary.p95Ms!);
        this.set({ source, quantile: "0.99" }, summary.p99Ms!);
      }
    },
  });
  const latencyCount = new Counter({
    name: `${namePrefix}latency_observations_total`,
    help: "Redis calls and loader runs timed by the cache",
    labelNames: ["source"] as const,
    registers: [registry],
    collect() {
      const stats = recorder.snapshot();
      this.reset();
      this.inc({ source: "redis" }, stats.redisLatencyMs.count);
      this.inc({ source: "loader" }, stats.loaderLatencyMs.count);
    },
  });
  return { lookups, errors, latency, latencyCount };
}
