import { Counter, Gauge, type Registry } from "prom-client";
import { withTimeout } from "../lib/with-timeout.ts";
import type { AlertSample } from "../monitoring/alert-sample.ts";
import type { CacheHealthScorer } from "./cache-health-scorer.ts";
import type { LockCounters } from "./counting-lock.ts";

/**
 * The operators' metrics, read at scrape time:
 * - `spywatcher_cache_health_score` (0-100; its parts as `spywatcher_cache_health_score_component{component}`), computed
 *   at the scrape (bounded by 1 s; the last score when the fleet read is slower)
 * - `spywatcher_cache_lock_acquisitions_total{outcome="acquired"|"contended"|"failed"}` (stampede locks of this instance)
 * - `spywatcher_cache_redis_p99_window_ms`: the fleet p99 of the cache's Redis calls over the alert window, as the
 *   alert monitor last read it (no series while unknown)
 */
export function registerOpsMetrics(
  registry: Registry,
  sources: { scorer: CacheHealthScorer; lockCounters: () => LockCounters; lastSample: () => AlertSample | undefined },
): void {
  const score = async () =>
    withTimeout(sources.scorer.score(), 1_000, "health score").catch(() => sources.scorer.last());
  new Gauge({
    name: "spywatcher_cache_health_score",
    help: "Cache health score 0-100: 0.5 x hit rate + 0.3 x response time + 0.2 x error rate parts (docs/operations.md)",
    registers: [registry],
    async collect() {
      const current = await score();
      this.reset();
      if (current) this.set(current.score);
    },
  });
  new Gauge({
    name: "spywatcher_cache_health_score_component",
    help: "The three parts of the cache health score, each 0-100",
    labelNames: ["component"] as const,
    registers: [registry],
    collect() {
      const current = sources.scorer.last();
      this.reset();
      if (!current) return;
      for (const [component, value] of Object.entries(current.components)) this.set({ component }, value);
    },
  });
  new Counter({
    name: "spywatcher_cache_lock_acquisitions_total",
    help: "Stampede lock acquisitions of this instance by outcome (contended: held by another; failed: Redis error or timeout)",
    labelNames: ["outcome"] as const,
    registers: [registry],
    collect() {
      const counters = sources.lockCounters();
      this.reset();
      this.inc({ outcome: "acquired" }, counters.acquired);
      this.inc({ outcome: "contended" }, counters.contended);
      this.inc({ outcome: "failed" }, counters.failures);
    },
  });
  new Gauge({
    name: "spywatcher_cache_redis_p99_window_ms",
    help: "Fleet p99 of the cache's Redis calls over the alert window, in ms, as the alert monitor last read it",
    registers: [registry],
    collect() {
      const p99 = sources.lastSample()?.cacheP99Ms;
      this.reset();
      if (p99 !== null && p99 !== undefined) this.set(p99);
    },
  });
}
