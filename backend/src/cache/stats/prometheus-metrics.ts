import { Counter, Gauge, type Registry } from "prom-client";
import type { CacheStatsRecorder } from "./cache-stats-recorder.ts";
import { LatencyHistogramMetric } from "./latency-histogram-metric.ts";

/** The metrics `registerCacheMetrics` adds, for callers that want to unregister them. */
export interface CacheMetrics {
  lookups: Counter<"outcome">;
  errors: Counter;
  hitRate: Gauge<"window">;
  operationLatency: LatencyHistogramMetric;
}

/** Window of `cache_hit_rate{window="5m"}`. */
const HIT_RATE_WINDOW_MS = 5 * 60_000;

/**
 * Exposes a recorder's statistics (this instance's) as Prometheus metrics, read at scrape time, so recording
 * stays a plain counter increment:
 * - `<prefix>lookups_total{outcome="hit_l1"|"hit_l2"|"miss"|"stale"|"bypass"}`
 * - `<prefix>errors_total`
 * - source design 003's names, unprefixed: `cache_hit_rate{window="5m"}` (0 to 1, (hits + stale) / lookups over the
 *   last 5 minutes, measured between scrapes; since start until a scrape 5 minutes old exists) and the histogram
 *   `cache_operation_latency_seconds{source="redis"|"loader"}` (a histogram, summable across instances, read from
 *   the recorder's in-process histograms: see latency-histogram-metric.ts).
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
  // Scrape-time samples of the counters, oldest first, kept for the hit-rate window.
  const samples: { at: number; served: number; lookups: number }[] = [];
  const hitRate = new Gauge({
    name: "cache_hit_rate",
    help: "Share of this application's cache lookups served from the cache (hits and stale) over the window, 0 to 1",
    labelNames: ["window"] as const,
    registers: [registry],
    collect() {
      const stats = recorder.snapshot();
      const now = Date.now();
      const current = { at: now, served: stats.hits.total + stats.stale, lookups: stats.lookups };
      while (samples.length > 1 && samples[1]!.at <= now - HIT_RATE_WINDOW_MS) samples.shift();
      const base = samples[0] && samples[0].at <= now - HIT_RATE_WINDOW_MS ? samples[0] : { served: 0, lookups: 0 };
      samples.push(current);
      const lookups = current.lookups - base.lookups;
      this.reset();
      // No lookups in the window: no series rather than a made-up 0 or 1.
      if (lookups > 0) this.set({ window: "5m" }, (current.served - base.served) / lookups);
    },
  });
  const operationLatency = new LatencyHistogramMetric(registry, () => recorder.latencyHistograms());
  return { lookups, errors, hitRate, operationLatency };
}
