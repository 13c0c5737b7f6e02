import { describe, expect, it } from "vitest";
import type { CacheStats } from "../../../backend/src/cache/stats/cache-stats-types.ts";
import { computeHealthScore } from "../../../backend/src/ops/health-score.ts";

const targets = { targetResponseMs: 200, maxResponseMs: 500, maxErrorRatePercent: 1 };

function stats(lookups: number, hitRatePercent: number | null, errors: number, p99Ms: number | null): CacheStats {
  const latency = {
    count: p99Ms === null ? 0 : 100,
    p50Ms: p99Ms,
    p95Ms: p99Ms,
    p99Ms,
    maxMs: p99Ms,
    meanMs: p99Ms,
  } as unknown as CacheStats["redisLatencyMs"];
  return {
    hits: { l1: 0, l2: 0, total: 0 },
    misses: 0,
    stale: 0,
    errors,
    bypasses: 0,
    lookups,
    hitRatePercent,
    redisLatencyMs: latency,
    loaderLatencyMs: latency,
  };
}

describe("computeHealthScore: 0.5 x hit rate + 0.3 x response time + 0.2 x error rate", () => {
  it("is 100 with every part perfect, and 100 with nothing to measure", () => {
    expect(computeHealthScore(stats(1_000, 100, 0, 1), targets, "fleet-window", 1).score).toBe(100);
    expect(computeHealthScore(stats(0, null, 0, null), targets, "instance", 1)).toMatchObject({
      score: 100,
      grade: "healthy",
    });
  });

  it("weights each part as documented", () => {
    // Hit rate 80 -> 40; p99 at the alert threshold (500 ms) -> 50 x 0.3 = 15; error rate at the threshold (1%) -> 50 x 0.2 = 10.
    const score = computeHealthScore(stats(1_000, 80, 10, 500), targets, "fleet-window", 1);
    expect(score.components).toEqual({ hitRate: 80, responseTime: 50, errorRate: 50 });
    expect(score).toMatchObject({ score: 65, grade: "unhealthy" });
  });

  it("floors the response and error parts at 0", () => {
    const score = computeHealthScore(stats(100, 95, 50, 5_000), targets, "fleet-window", 1);
    expect(score.components).toMatchObject({ responseTime: 0, errorRate: 0 });
    expect(score.score).toBe(48); // 0.5 x 95 = 47.5, rounded
  });
});
