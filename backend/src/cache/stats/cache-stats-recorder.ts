import type { Cluster, Redis } from "ioredis";
import {
  buildStats,
  type CacheCounters,
  type LabelCounters,
  type FleetCacheStats,
  type LocalCacheStats,
} from "./cache-stats-types.ts";
import {
  CACHE_STATS_DEFAULTS,
  COUNTER_FIELDS,
  FleetStatsStore,
  LABEL_FIELDS,
  MAX_LABELS,
  labelField,
  type StatsDelta,
} from "./fleet-stats-store.ts";
import { BUCKET_COUNT, LatencyHistogram } from "./latency-histogram.ts";

/** Options of a `CacheStatsRecorder`. */
export interface CacheStatsRecorderOptions {
  /** Connection used to flush and read fleet statistics (single node or cluster). */
  redis: Redis | Cluster;
  /** Namespace of the statistics keys (`<prefix>:stats:{<prefix>}:...`). */
  prefix: string;
  /** This process's id in the fleet (e.g. hostname + pid + random). */
  instanceId: string;
  /** How often local deltas are flushed to Redis, in ms (default 5,000; 0 disables the timer). */
  flushIntervalMs?: number;
  /** Width of one fleet time window, in ms (default 60,000). */
  windowMs?: number;
  /** How long fleet window hashes are kept, in ms (default 86,400,000 = 24 h). */
  retentionMs?: number;
  /** The clock, epoch ms (default `Date.now`). */
  now?: () => number;
}

/** The histograms a delta is computed for, with their field names. */
type HistogramName = "redis" | "loader";

/**
 * Records this application's cache outcomes and latencies. Recording is a counter increment or one histogram
 * bucket increment: no allocation, no I/O. A timer flushes the deltas since the last flush to Redis
 * (HINCRBY into an all-time hash and a per-window hash, one MULTI), and `fleetStats()` sums every instance's.
 */
export class CacheStatsRecorder {
  private readonly counters: CacheCounters = { hitsL1: 0, hitsL2: 0, misses: 0, stale: 0, errors: 0, bypasses: 0 };
  private readonly histograms: Record<HistogramName, LatencyHistogram> = {
    redis: new LatencyHistogram(),
    loader: new LatencyHistogram(),
  };
  /** What has already been added to Redis: deltas are the current values minus these. */
  private readonly flushedCounters: CacheCounters = { ...this.counters };
  private readonly flushedBuckets: Record<HistogramName, Float64Array> = {
    redis: new Float64Array(BUCKET_COUNT),
    loader: new Float64Array(BUCKET_COUNT),
  };
  /** Per stats label; at most MAX_LABELS labels (later ones are counted in the totals only). */
  private readonly labels = new Map<string, LabelCounters>();
  private readonly flushedLabels = new Map<string, LabelCounters>();
  private readonly flushedSumUs: Record<HistogramName, number> = { redis: 0, loader: 0 };
  private readonly store: FleetStatsStore;
  private readonly instanceId: string;
  private readonly now: () => number;
  private readonly since: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private flushFailures = 0;
  private closed = false;
  /**
   * Asked before each timed flush with the key it would write: false skips that flush (deltas are kept for the next
   * one). The cache sets it to "that key's master breaker is not open": on a cluster whose master of these keys is
   * dead, ioredis re-sends the MULTI up to 16 times within a second, refreshing its slot map each time.
   */
  flushGate: ((routingKey: string) => boolean) | undefined;

  constructor(options: CacheStatsRecorderOptions) {
    this.instanceId = options.instanceId;
    this.now = options.now ?? Date.now;
    this.since = this.now();
    const flushIntervalMs = options.flushIntervalMs ?? CACHE_STATS_DEFAULTS.flushIntervalMs;
    this.store = new FleetStatsStore(options.redis, options.prefix, {
      windowMs: options.windowMs,
      retentionMs: options.retentionMs,
      activeWithinMs: Math.max(3 * flushIntervalMs, 15_000),
    });
    if (flushIntervalMs > 0) {
      // A failed flush keeps its deltas for the next one; the failure shows in `flushFailures`.
      this.timer = setInterval(() => {
        if (this.flushGate?.(this.store.totalKey) === false) return;
        void this.flush().catch(() => undefined);
      }, flushIntervalMs);
      this.timer.unref();
    }
  }

  /** A fresh value served from L1 (in-process) or L2 (Redis). */
  recordHit(tier: "l1" | "l2", label?: string): void {
    if (tier === "l1") this.counters.hitsL1 += 1;
    else this.counters.hitsL2 += 1;
    if (label !== undefined) {
      const counters = this.label(label);
      if (counters) counters.hits += 1;
    }
  }

  /** The loader computed the value. */
  recordMiss(label?: string): void {
    this.counters.misses += 1;
    if (label !== undefined) {
      const counters = this.label(label);
      if (counters) counters.misses += 1;
    }
  }

  /** A value was served past its fresh TTL (stale-while-revalidate or stale-if-error). */
  recordStale(label?: string): void {
    this.counters.stale += 1;
    if (label !== undefined) {
      const counters = this.label(label);
      if (counters) counters.stale += 1;
    }
  }

  /** A Redis operation of the cache failed. */
  recordError(): void {
    this.counters.errors += 1;
  }

  /** Redis was skipped (breaker open or failing) and the loader ran directly. */
  recordBypass(label?: string): void {
    this.counters.bypasses += 1;
    if (label !== undefined) {
      const counters = this.label(label);
      if (counters) counters.bypasses += 1;
    }
  }

  /** The counters of `label`, created on its first use (one small object per label, never per call). */
  private label(label: string): LabelCounters | undefined {
    let counters = this.labels.get(label);
    if (counters === undefined && this.labels.size < MAX_LABELS) {
      counters = { hits: 0, stale: 0, misses: 0, bypasses: 0 };
      this.labels.set(label, counters);
    }
    return counters;
  }

  /** One Redis call took `ms` milliseconds. */
  observeRedisLatency(ms: number): void {
    this.histograms.redis.record(ms);
  }

  /** One loader run took `ms` milliseconds. */
  observeLoaderLatency(ms: number): void {
    this.histograms.loader.record(ms);
  }

  /** This instance's latency histograms since start, read-only (exported as `cache_operation_latency_seconds`). */
  latencyHistograms(): Readonly<Record<HistogramName, Readonly<LatencyHistogram>>> {
    return this.histograms;
  }

  /** This instance's statistics since the recorder was created. */
  snapshot(): LocalCacheStats {
    return {
      scope: "instance",
      instanceId: this.instanceId,
      since: this.since,
      flushFailures: this.flushFailures,
      ...buildStats(this.counters, this.histograms.redis, this.histograms.loader, this.labels),
    };
  }

  /**
   * Fleet-wide statistics: this instance's pending deltas are flushed first, then every instance's sums are read
   * (two round trips). Without `lastMs`, all-time totals; with it, the windows covering the last `lastMs` ms.
   * Latency maxima are not merged (`maxMs` is null). Rejects when Redis is unreachable.
   */
  async fleetStats(options: { lastMs?: number } = {}): Promise<FleetCacheStats> {
    await this.flush();
    const now = this.now();
    const totals = await this.store.read(now, options.lastMs);
    return {
      scope: "fleet",
      range:
        options.lastMs === undefined
          ? { kind: "lifetime" }
          : { kind: "window", from: totals.from!, to: totals.to!, windowMs: this.store.windowMs },
      activeInstances: totals.activeInstances,
      ...buildStats(totals.counters, totals.redis, totals.loader, totals.labels),
    };
  }

  /** Sends the deltas since the last successful flush to Redis. Concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Stops the timer and makes a last flush (a failure is counted, not thrown). Later records stay local. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.flush().catch(() => undefined);
  }

  private async flushOnce(): Promise<void> {
    // Values are read once, here: records made while the MULTI is in flight belong to the next flush.
    const counters = { ...this.counters };
    const buckets = { redis: this.histograms.redis.buckets.slice(), loader: this.histograms.loader.buckets.slice() };
    const sumUs = {
      redis: Math.round(this.histograms.redis.sumMs * 1000),
      loader: Math.round(this.histograms.loader.sumMs * 1000),
    };
    const labels = new Map([...this.labels].map(([label, c]) => [label, { ...c }]));
    const delta: StatsDelta = [];
    for (const field of COUNTER_FIELDS) {
      const increment = counters[field] - this.flushedCounters[field];
      if (increment !== 0) delta.push([field, increment]);
    }
    for (const [label, c] of labels) {
      const flushed = this.flushedLabels.get(label);
      for (const field of LABEL_FIELDS) {
        const increment = c[field] - (flushed?.[field] ?? 0);
        if (increment !== 0) delta.push([labelField(label, field), increment]);
      }
    }
    for (const name of ["redis", "loader"] as const) {
      for (let index = 0; index < BUCKET_COUNT; index += 1) {
        const increment = buckets[name][index]! - this.flushedBuckets[name][index]!;
        if (increment !== 0) delta.push([`${name}:${index}`, increment]);
      }
      const sumIncrement = sumUs[name] - this.flushedSumUs[name];
      if (sumIncrement !== 0) delta.push([`${name}:sum_us`, sumIncrement]);
    }
    // An empty delta is still sent: it keeps this instance listed as active in the fleet registry.
    try {
      await this.store.add(this.instanceId, delta, this.now());
    } catch (error) {
      this.flushFailures += 1;
      throw error;
    }
    Object.assign(this.flushedCounters, counters);
    for (const [label, c] of labels) this.flushedLabels.set(label, c);
    this.flushedBuckets.redis = buckets.redis;
    this.flushedBuckets.loader = buckets.loader;
    Object.assign(this.flushedSumUs, sumUs);
  }
}
