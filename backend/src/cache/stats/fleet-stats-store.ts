import type { Cluster, Redis } from "ioredis";
import type { CacheCounters, LabelCounters } from "./cache-stats-types.ts";
import { BUCKET_COUNT, LatencyHistogram } from "./latency-histogram.ts";

/** Defaults of the fleet statistics (and of the recorder's flushes); the CACHE_STATS_* defaults of config/config.ts are these. */
export const CACHE_STATS_DEFAULTS = { flushIntervalMs: 5_000, windowMs: 60_000, retentionMs: 86_400_000 } as const;

/** Options of the fleet statistics store. */
export interface FleetStatsStoreOptions {
  /** Width of one time-window hash in ms (default 60,000). */
  windowMs?: number;
  /** How long window hashes and the instance registry are kept, in ms (default 86,400,000 = 24 h). */
  retentionMs?: number;
  /** How recently an instance must have flushed to count as active, in ms (default 15,000). */
  activeWithinMs?: number;
}

/** Names of the counter fields, in a fixed order. */
export const COUNTER_FIELDS = [
  "hitsL1",
  "hitsL2",
  "misses",
  "stale",
  "errors",
  "bypasses",
] as const satisfies readonly (keyof CacheCounters)[];

/** Names of the per-label counter fields. */
export const LABEL_FIELDS = ["hits", "stale", "misses", "bypasses"] as const satisfies readonly (keyof LabelCounters)[];

/** Most stats labels one recorder counts (labels are a small fixed set such as the analytic types). */
export const MAX_LABELS = 64;

/** The hash field of one label's counter: `label:<label>:<counter>`. */
export function labelField(label: string, field: keyof LabelCounters): string {
  return `label:${label}:${field}`;
}

/** A delta to add to the fleet hashes: field name to increment (integers). */
export type StatsDelta = [field: string, increment: number][];

/** What the fleet hashes hold, summed. */
export interface FleetTotals {
  counters: CacheCounters;
  redis: LatencyHistogram;
  loader: LatencyHistogram;
  /** Per stats label. */
  labels: Map<string, LabelCounters>;
  activeInstances: string[];
}

/**
 * Redis layout of fleet-wide statistics. Every key carries the hash tag `{<prefix>}` so all of them share one
 * cluster slot: a flush is one MULTI (atomic: a delta is added everywhere or nowhere) and a read is one pipeline.
 *
 *   <prefix>:stats:{<prefix>}:total          all-time sums (HINCRBY per field)
 *   <prefix>:stats:{<prefix>}:w:<startMs>    sums of one time window (expires after the retention)
 *   <prefix>:stats:{<prefix>}:instances      instance id -> epoch ms of its last flush
 *
 * Fields: the counters (`hitsL1`, `hitsL2`, `misses`, `stale`, `errors`, `bypasses`), and per histogram
 * (`redis`, `loader`): `<h>:sum_us` (sum in µs) and `<h>:<bucket>` (non-empty buckets only; their sum is the count),
 * and per stats label (`RememberOptions.statsLabel`, e.g. an analytic type): `label:<label>:hits|stale|misses|bypasses`.
 */
export class FleetStatsStore {
  readonly windowMs: number;
  readonly retentionMs: number;
  readonly activeWithinMs: number;
  private readonly base: string;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
    options: FleetStatsStoreOptions = {},
  ) {
    this.windowMs = options.windowMs ?? CACHE_STATS_DEFAULTS.windowMs;
    this.retentionMs = options.retentionMs ?? CACHE_STATS_DEFAULTS.retentionMs;
    this.activeWithinMs = options.activeWithinMs ?? 15_000;
    if (!(this.windowMs >= 1000)) throw new RangeError("stats windowMs must be at least 1,000 ms");
    this.base = `${prefix}:stats:{${prefix}}`;
  }

  /** Key of the all-time hash. */
  get totalKey(): string {
    return `${this.base}:total`;
  }

  /** Key of the instance registry hash. */
  get instancesKey(): string {
    return `${this.base}:instances`;
  }

  /** Key of the window hash that contains `at` (epoch ms). */
  windowKey(at: number): string {
    return `${this.base}:w:${Math.floor(at / this.windowMs) * this.windowMs}`;
  }

  /** Adds `delta` to the all-time hash and to the current window, and marks the instance as seen: one MULTI. */
  async add(instanceId: string, delta: StatsDelta, now: number): Promise<void> {
    const windowKey = this.windowKey(now);
    const multi = this.redis.multi();
    for (const [field, increment] of delta) {
      multi.hincrby(this.totalKey, field, increment);
      multi.hincrby(windowKey, field, increment);
    }
    // A window must outlive the retention from its end, so a query over the whole retention finds it.
    multi.pexpire(windowKey, this.retentionMs + this.windowMs);
    multi.hset(this.instancesKey, instanceId, String(now));
    multi.pexpire(this.instancesKey, this.retentionMs);
    const replies = await multi.exec();
    const failed = replies?.find(([error]) => error);
    if (!replies || failed) throw failed?.[0] ?? new Error("stats flush transaction was aborted");
  }

  /**
   * Sums the all-time hash (no `lastMs`) or the window hashes covering the last `lastMs` (windows are whole, so the
   * range is rounded out to window boundaries). One pipeline, one round trip; stale instance ids are pruned.
   */
  async read(now: number, lastMs?: number): Promise<FleetTotals & { from?: number; to?: number }> {
    const pipeline = this.redis.pipeline();
    pipeline.hgetall(this.instancesKey);
    let from: number | undefined;
    if (lastMs === undefined) {
      pipeline.hgetall(this.totalKey);
    } else {
      const span = Math.min(Math.max(lastMs, 1), this.retentionMs);
      from = Math.floor((now - span) / this.windowMs) * this.windowMs;
      for (let start = from; start <= now; start += this.windowMs) pipeline.hgetall(this.windowKey(start));
    }
    const replies = (await pipeline.exec()) ?? [];
    const failed = replies.find(([error]) => error);
    if (failed) throw failed[0];
    const [instancesReply, ...hashReplies] = replies.map(([, value]) => value as Record<string, string>);
    const totals = emptyTotals();
    for (const hash of hashReplies) addHash(totals, hash);
    totals.activeInstances = await this.activeInstances(instancesReply ?? {}, now);
    return lastMs === undefined ? totals : { ...totals, from: from!, to: now };
  }

  private async activeInstances(registry: Record<string, string>, now: number): Promise<string[]> {
    const active: string[] = [];
    const expired: string[] = [];
    for (const [id, lastFlush] of Object.entries(registry)) {
      const age = now - Number(lastFlush);
      if (age <= this.activeWithinMs) active.push(id);
      else if (age > this.retentionMs) expired.push(id);
    }
    // Instances come and go (each restart is a new id): drop the long-gone ones so the registry stays small.
    if (expired.length > 0) await this.redis.hdel(this.instancesKey, ...expired);
    return active.sort();
  }
}

function emptyTotals(): FleetTotals {
  return {
    counters: { hitsL1: 0, hitsL2: 0, misses: 0, stale: 0, errors: 0, bypasses: 0 },
    redis: new LatencyHistogram(),
    loader: new LatencyHistogram(),
    labels: new Map(),
    activeInstances: [],
  };
}

function addHash(totals: FleetTotals, hash: Record<string, string>): void {
  for (const [field, raw] of Object.entries(hash)) {
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    const colon = field.indexOf(":");
    if (colon < 0) {
      if ((COUNTER_FIELDS as readonly string[]).includes(field)) totals.counters[field as keyof CacheCounters] += value;
      continue;
    }
    if (field.startsWith("label:")) {
      const last = field.lastIndexOf(":");
      const counter = field.slice(last + 1);
      if (last <= 6 || !(LABEL_FIELDS as readonly string[]).includes(counter)) continue;
      const label = field.slice(6, last);
      let counters = totals.labels.get(label);
      if (counters === undefined) totals.labels.set(label, (counters = { hits: 0, stale: 0, misses: 0, bypasses: 0 }));
      counters[counter as keyof LabelCounters] += value;
      continue;
    }
    const histogram = field.startsWith("redis:") ? totals.redis : field.startsWith("loader:") ? totals.loader : null;
    if (!histogram) continue;
    const part = field.slice(colon + 1);
    // The count is implied by the buckets (addToBucket counts them); only the sum needs its own field.
    if (part === "sum_us") histogram.sumMs += value / 1000;
    else {
      const index = Number(part);
      if (Number.isInteger(index) && index < BUCKET_COUNT) histogram.addToBucket(index, value);
    }
  }
}
