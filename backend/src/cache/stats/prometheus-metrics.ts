import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { CacheStatsRecorder } from "./cache-stats-recorder.ts";

/** The metrics `registerCacheMetrics` adds, for callers that want to unregister them. */
export interface CacheMetrics {
  lookups: Counter<"outcome">;
  errors: Counter;
  latency: Gauge<"source" | "quantile">;
  latencyCount: Counter<"source">;
  hitRate: Gauge<"window">;
  operationLatency: Histogram<"source">;
}

/** Window of `cache_hit_rate{window="5m"}`. */
const HIT_RATE_WINDOW_MS = 5 * 60_000;
/** Buckets of `cache_operation_latency_seconds`: 100 µs to 2.5 s. */
const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Exposes a recorder's statistics (this instance's) as Prometheus metrics, read at scrape time, so recording
 * stays a plain counter increment:
 * - `<prefix>lookups_total{outcome="hit_l1"|"hit_l2"|"miss"|"stale"|"bypass"}`
 * - `<prefix>errors_total`
 * - `<prefix>latency_ms{source="redis"|"loader", quantile="0.5"|"0.95"|"0.99"}`, `<prefix>latency_observations_total{source}`
 * - source design 003's names, unprefixed: `cache_hit_rate{window="5m"}` (0 to 1, (hits + stale) / lookups over the
 *   last 5 minutes, measured between scrapes; since start until a scrape 5 minutes old exists) and the histogram
 *   `cache_operation_latency_seconds{source="redis"|"loader"}` (observed as each call ends).
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
  const operationLatency = new Histogram({
    name: "cache_operation_latency_seconds",
    help: "Latency of the cache's Redis calls and loader runs, in seconds",
    labelNames: ["source"] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry],
  });
  const redisLatency = operationLatency.labels("redis");
  const loaderLatency = operationLatency.labels("loader");
  recorder.onRedisLatency = (ms) => redisLatency.observe(ms / 1_000);
  recorder.onLoaderLatency = (ms) => loaderLatency.observe(ms / 1_000);
  return { lookups, errors, latency, latencyCount, hitRate, operationLatency };
}
