import { describe, expect, it } from "vitest";
import {
  BUCKET_COUNT,
  HISTOGRAM_MIN_MS,
  LatencyHistogram,
  bucketIndex,
  bucketValueMs,
} from "../../../../backend/src/cache/stats/latency-histogram.ts";

/** The exact q-quantile of sorted values (nearest rank), to compare the histogram against. */
function exactPercentile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

describe("LatencyHistogram", () => {
  it("maps latencies to monotonic buckets, clamping below 1 µs and above the top", () => {
    let previous = -1;
    for (let ms = 0.0005; ms < 200_000; ms *= 1.03) {
      const index = bucketIndex(ms);
      expect(index).toBeGreaterThanOrEqual(previous);
      previous = index;
    }
    expect(bucketIndex(0)).toBe(0);
    expect(bucketIndex(HISTOGRAM_MIN_MS / 2)).toBe(0);
    expect(bucketIndex(1e9)).toBe(BUCKET_COUNT - 1);
    // Each bucket's reported value lies within the bucket (round trip).
    for (let index = 1; index < BUCKET_COUNT - 1; index += 1) expect(bucketIndex(bucketValueMs(index))).toBe(index);
  });

  it("reports p50/p95/p99 within 5% of the exact values on a skewed distribution", () => {
    const histogram = new LatencyHistogram();
    const values: number[] = [];
    // Deterministic pseudo-random, log-normal-ish latencies from 0.05 ms to ~200 ms.
    let seed = 42;
    for (let i = 0; i < 20_000; i += 1) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      const value = 0.05 * Math.exp((seed / 2 ** 31) ** 2 * 8.3);
      values.push(value);
      histogram.record(value);
    }
    values.sort((x, y) => x - y);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = exactPercentile(values, q);
      expect(Math.abs(histogram.percentile(q)! - exact) / exact).toBeLessThan(0.05);
    }
    const summary = histogram.summary();
    expect(summary.count).toBe(20_000);
    expect(summary.maxMs).toBeCloseTo(values.at(-1)!, 3);
    expect(summary.meanMs).toBeCloseTo(values.reduce((sum, v) => sum + v, 0) / values.length, 2);
  });

  it("merges by adding bucket counts: two halves give the percentiles of the whole", () => {
    const whole = new LatencyHistogram();
    const left = new LatencyHistogram();
    const right = new LatencyHistogram();
    for (let i = 1; i <= 1_000; i += 1) {
      whole.record(i);
      (i % 2 === 0 ? left : right).record(i * 1.0);
    }
    const merged = new LatencyHistogram();
    for (const part of [left, right])
      for (const [index, count] of part.buckets.entries()) merged.addToBucket(index, count);
    expect(merged.count).toBe(1_000);
    // Same buckets, so the same percentiles; only the local maximum (unknown after a merge) may clamp the top one.
    for (const q of [0.5, 0.95, 0.99])
      expect(bucketIndex(merged.percentile(q)!)).toBe(bucketIndex(whole.percentile(q)!));
    expect(merged.percentile(0.5)).toBe(whole.percentile(0.5));
  });

  it("ignores NaN and negative observations and is empty-safe", () => {
    const histogram = new LatencyHistogram();
    expect(histogram.summary()).toEqual({ count: 0, meanMs: null, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null });
    histogram.record(Number.NaN);
    histogram.record(-1);
    expect(histogram.count).toBe(0);
    histogram.record(0);
    expect(histogram.percentile(0.99)).toBe(HISTOGRAM_MIN_MS);
  });
});
