/**
 * Fixed log-scale latency buckets, the same on every instance, so histograms merge by adding bucket counts
 * (HINCRBY per bucket in Redis). 8 buckets per doubling from 1 µs: each bucket is 9% wide, so a percentile read
 * at a bucket's geometric middle is within about ±4.5% of the true value. Below 1 µs and above ~134 s values
 * land in the first and last bucket.
 */
export const HISTOGRAM_MIN_MS = 0.001;
/** Buckets per doubling of latency. */
export const BUCKETS_PER_DOUBLING = 8;
/** Doublings covered above HISTOGRAM_MIN_MS (2^27 µs ≈ 134 s). */
const DOUBLINGS = 27;
/** Number of buckets: one underflow bucket, the log-scale ones, and one overflow bucket. */
export const BUCKET_COUNT = DOUBLINGS * BUCKETS_PER_DOUBLING + 2;

/** Quantiles and summary of a latency distribution, in milliseconds (null when nothing was observed). */
export interface LatencySummary {
  count: number;
  meanMs: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Largest observation (local snapshots only: a maximum cannot be merged by addition). */
  maxMs: number | null;
}

/** The bucket an observation of `ms` falls in. Allocation-free: one log2 and a clamp. */
export function bucketIndex(ms: number): number {
  if (!(ms > HISTOGRAM_MIN_MS)) return 0;
  const index = Math.floor(Math.log2(ms / HISTOGRAM_MIN_MS) * BUCKETS_PER_DOUBLING) + 1;
  return index >= BUCKET_COUNT ? BUCKET_COUNT - 1 : index;
}

/** The value a percentile falling in bucket `index` is reported as: the bucket's geometric middle. */
export function bucketValueMs(index: number): number {
  if (index <= 0) return HISTOGRAM_MIN_MS;
  if (index >= BUCKET_COUNT - 1) return HISTOGRAM_MIN_MS * 2 ** DOUBLINGS;
  return HISTOGRAM_MIN_MS * 2 ** ((index - 0.5) / BUCKETS_PER_DOUBLING);
}

/** A mergeable latency histogram. `record` does no allocation and no I/O. */
export class LatencyHistogram {
  /** Count per bucket (Float64 stays exact up to 2^53, far past any realistic count). */
  readonly buckets = new Float64Array(BUCKET_COUNT);
  count = 0;
  /** Sum of observations in ms. */
  sumMs = 0;
  maxMs = 0;

  /** Adds one observation in milliseconds (negative or NaN values are ignored). */
  record(ms: number): void {
    if (!(ms >= 0)) return;
    const index = bucketIndex(ms);
    this.buckets[index] = this.buckets[index]! + 1;
    this.count += 1;
    this.sumMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** Adds `count` observations to bucket `index` (merging another instance's histogram). */
  addToBucket(index: number, count: number): void {
    if (index < 0 || index >= BUCKET_COUNT || !(count > 0)) return;
    this.buckets[index] = this.buckets[index]! + count;
    this.count += count;
  }

  /** The value below which a fraction `q` (0..1) of observations fall, or null when empty. */
  percentile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let index = 0; index < BUCKET_COUNT; index += 1) {
      seen += this.buckets[index]!;
      if (seen >= rank) {
        const value = bucketValueMs(index);
        // A percentile can never exceed the largest observation (when the maximum is known).
        return this.maxMs > 0 && value > this.maxMs ? this.maxMs : value;
      }
    }
    return bucketValueMs(BUCKET_COUNT - 1);
  }

  /** Count, mean and p50/p95/p99 (rounded to µs). */
  summary(): LatencySummary {
    const round = (value: number | null) => (value === null ? null : Math.round(value * 1000) / 1000);
    return {
      count: this.count,
      meanMs: this.count === 0 ? null : round(this.sumMs / this.count),
      p50Ms: round(this.percentile(0.5)),
      p95Ms: round(this.percentile(0.95)),
      p99Ms: round(this.percentile(0.99)),
      maxMs: this.count === 0 || this.maxMs === 0 ? null : round(this.maxMs),
    };
  }
}
