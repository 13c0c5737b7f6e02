import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import {
  LATENCY_BUCKET_BOUNDS_SECONDS,
  LatencyHistogramMetric,
} from "../../../../backend/src/cache/stats/latency-histogram-metric.ts";
import { LatencyHistogram } from "../../../../backend/src/cache/stats/latency-histogram.ts";

function bucketLines(text: string, source: string): [string, number][] {
  return [
    ...text.matchAll(
      new RegExp(`^cache_operation_latency_seconds_bucket\\{le="([^"]+)",source="${source}"\\} (\\S+)$`, "gm"),
    ),
  ].map((m) => [m[1]!, Number(m[2])]);
}

describe("cache_operation_latency_seconds read from the in-process histograms", () => {
  it("exports exact cumulative buckets, sum and count: a value just under a bound counts in it, just over in the next", async () => {
    const redis = new LatencyHistogram();
    const loader = new LatencyHistogram();
    const registry = new Registry();
    new LatencyHistogramMetric(registry, () => ({ redis, loader }));
    // 1.024 ms is a bound (2^10 µs): 1.0 ms is under it, 1.1 ms over it; 300 ms lies between 262 ms and 524 ms.
    redis.record(1.0);
    redis.record(1.1);
    redis.record(300);
    const text = await registry.metrics();
    expect(text).toMatch(/^# TYPE cache_operation_latency_seconds histogram$/m);
    const buckets = new Map(bucketLines(text, "redis"));
    expect(buckets.get("0.001024")).toBe(1);
    expect(buckets.get("0.002048")).toBe(2);
    expect(buckets.get("0.262144")).toBe(2);
    expect(buckets.get("0.524288")).toBe(3);
    expect(buckets.get("+Inf")).toBe(3);
    expect(text).toMatch(/^cache_operation_latency_seconds_count\{source="redis"\} 3$/m);
    expect(Number(/^cache_operation_latency_seconds_sum\{source="redis"\} (\S+)$/m.exec(text)![1])).toBeCloseTo(
      0.3021,
      6,
    );
    expect(bucketLines(text, "loader").every(([, count]) => count === 0)).toBe(true);
  });

  it("has cumulative, non-decreasing buckets at every exported bound, read anew at each scrape", async () => {
    const redis = new LatencyHistogram();
    const registry = new Registry();
    new LatencyHistogramMetric(registry, () => ({ redis, loader: new LatencyHistogram() }));
    for (let i = 0; i < 1_000; i += 1) redis.record(0.01 * 1.02 ** i);
    const counts = bucketLines(await registry.metrics(), "redis");
    expect(counts.map(([le]) => le)).toEqual([...LATENCY_BUCKET_BOUNDS_SECONDS.map(String), "+Inf"]);
    for (let i = 1; i < counts.length; i += 1) expect(counts[i]![1]).toBeGreaterThanOrEqual(counts[i - 1]![1]);
    expect(counts.at(-1)![1]).toBe(1_000);
    redis.record(1);
    expect(bucketLines(await registry.metrics(), "redis").at(-1)![1]).toBe(1_001);
  });
});
