import { describe, expect, it } from "vitest";
import {
  ALERT_RULE_IDS,
  buildAlertRules,
  DEFAULT_ALERT_THRESHOLDS,
  type AlertRule,
  type AlertSnapshot,
} from "../../../backend/src/monitoring/alert-rules.ts";
import type { AlertSample } from "../../../backend/src/monitoring/alert-sample.ts";

const MINUTE = 60_000;

/** A healthy sample at `at`; `patch` overrides parts. */
function sample(at: number, patch: Partial<AlertSample> = {}): AlertSample {
  return {
    at,
    cache: { lookups: 0, hits: 0 },
    breakerState: "closed",
    redis: { nodes: [{ node: "127.0.0.1:6379", usedBytes: 1_000, maxBytes: 0, evictedKeys: 0 }] },
    ingest: { dropped: 0, rejected: 0, buffered: 0, capacity: 50_000 },
    invalidationErrors: 0,
    readiness: [
      { name: "redis", up: true },
      { name: "postgres", up: true },
    ],
    wsSlowConsumerCloses: 0,
    ...patch,
  };
}

/** A snapshot of `current` with `earlier` samples in the window (oldest first). */
function snapshot(current: AlertSample, ...earlier: AlertSample[]): AlertSnapshot {
  return { current, earlier, windowMs: 5 * MINUTE };
}

function rule(id: string, rules: AlertRule[] = buildAlertRules()): AlertRule {
  const found = rules.find((candidate) => candidate.id === id);
  if (!found) throw new Error(`no rule ${id}`);
  return found;
}

describe("alert rules", () => {
  it("lists each rule once with a severity, a description and a for duration", () => {
    const rules = buildAlertRules();
    // One rule per id, in the order of ALERT_RULE_IDS (the list prometheus-alert-rules.ts is checked against).
    expect(rules.map((r) => r.id)).toEqual([...ALERT_RULE_IDS]);
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
    for (const r of rules) {
      expect(["low", "medium", "high", "critical"]).toContain(r.severity);
      expect(r.description.length).toBeGreaterThan(20);
      expect(r.forMs).toBeGreaterThanOrEqual(0);
    }
    expect(rules.filter((r) => r.severity === "critical").map((r) => r.id)).toEqual([
      "cache_breaker_open",
      "ingest_rows_lost",
      "postgres_unready",
      "redis_unready",
    ]);
  });

  it("healthy samples fire nothing", () => {
    const before = sample(0, { cache: { lookups: 1_000, hits: 950 } });
    const now = sample(5 * MINUTE, { cache: { lookups: 2_000, hits: 1_900 } });
    for (const r of buildAlertRules()) expect(r.evaluate(snapshot(now, before)), r.id).toMatchObject({ firing: false });
  });

  describe("cache_hit_rate_low", () => {
    const cache = (lookups: number, hits: number) => ({ lookups, hits });

    it("uses the counters' increase over the window, not lifetime totals", () => {
      // Lifetime: 10,000 lookups at 99%; in the window: 200 lookups at 50%.
      const result = rule("cache_hit_rate_low").evaluate(
        snapshot(sample(5 * MINUTE, { cache: cache(10_200, 10_000) }), sample(0, { cache: cache(10_000, 9_900) })),
      );
      expect(result).toMatchObject({ firing: true, value: 50 });
      expect(result.message).toContain("50% over 200 lookups in the last 5 min");
    });

    it("does not judge a window with fewer lookups than the floor", () => {
      const result = rule("cache_hit_rate_low").evaluate(
        snapshot(sample(MINUTE, { cache: cache(99, 0) }), sample(0, { cache: cache(0, 0) })),
      );
      expect(result).toMatchObject({ firing: false, value: 0 });
      expect(result.message).toContain("99 lookups in the window (< 100): not judged");
    });

    it("takes its threshold and floor from the configuration", () => {
      const rules = buildAlertRules({
        ...DEFAULT_ALERT_THRESHOLDS,
        cacheHitRateMinPercent: 40,
        cacheHitRateMinLookups: 10,
      });
      const s = snapshot(sample(MINUTE, { cache: cache(20, 10) }), sample(0, { cache: cache(0, 0) }));
      expect(rule("cache_hit_rate_low", rules).evaluate(s)).toMatchObject({ firing: false, value: 50 });
      expect(rule("cache_hit_rate_low", rules).threshold).toBe(40);
    });

    it("is unknown without a baseline or while the cache stats do not answer", () => {
      expect(rule("cache_hit_rate_low").evaluate(snapshot(sample(0)))).toMatchObject({
        firing: false,
        value: null,
        unknown: true,
      });
      expect(rule("cache_hit_rate_low").evaluate(snapshot(sample(MINUTE, { cache: null }), sample(0)))).toMatchObject({
        firing: false,
        value: null,
        unknown: true,
      });
    });

    it("takes as baseline the oldest sample in the window that has the counters, not one whose read failed", () => {
      // The oldest sample in the window has no cache reading (stats timed out); the next one has.
      const result = rule("cache_hit_rate_low").evaluate(
        snapshot(
          sample(5 * MINUTE, { cache: cache(1_400, 700) }),
          sample(0, { cache: null }),
          sample(MINUTE, { cache: cache(1_000, 500) }),
          sample(2 * MINUTE, { cache: null }),
        ),
      );
      expect(result).toMatchObject({ firing: true, value: 50 });
      expect(result.message).toContain("over 400 lookups in the last 4 min");
    });

    it("a window with no lookups is judged (not unknown), so a firing alert resolves when traffic stops", () => {
      const result = rule("cache_hit_rate_low").evaluate(
        snapshot(sample(MINUTE, { cache: cache(10, 5) }), sample(0, { cache: cache(10, 5) })),
      );
      expect(result).toMatchObject({ firing: false, value: null });
      expect(result.unknown).toBeUndefined();
    });
  });

  it("cache_breaker_open fires while the breaker is open or half-open", () => {
    const state = (breakerState: "closed" | "open" | "half-open") => sample(0, { cache: null, breakerState });
    expect(rule("cache_breaker_open").evaluate(snapshot(state("open")))).toMatchObject({
      firing: true,
      value: 2,
      message: "cache circuit breaker is open",
    });
    expect(rule("cache_breaker_open").evaluate(snapshot(state("half-open")))).toMatchObject({ firing: true, value: 1 });
    expect(rule("cache_breaker_open").evaluate(snapshot(state("closed")))).toMatchObject({ firing: false, value: 0 });
    expect(rule("cache_breaker_open").evaluate(snapshot(sample(0, { breakerState: null })))).toMatchObject({
      firing: false,
      value: null,
      unknown: true,
    });
  });

  describe("redis_memory_high", () => {
    it("fires on the fullest master above the threshold of its maxmemory", () => {
      const redis = {
        nodes: [
          { node: "a:1", usedBytes: 50, maxBytes: 100, evictedKeys: 0 },
          { node: "b:2", usedBytes: 91, maxBytes: 100, evictedKeys: 0 },
          { node: "c:3", usedBytes: 10_000, maxBytes: 0, evictedKeys: 0 },
        ],
      };
      const result = rule("redis_memory_high").evaluate(snapshot(sample(0, { redis })));
      expect(result).toMatchObject({ firing: true, value: 91 });
      expect(result.message).toContain("b:2 uses 91% of maxmemory");
    });

    it("never fires without maxmemory or when the memory is unknown, and says so", () => {
      expect(rule("redis_memory_high").evaluate(snapshot(sample(0)))).toEqual({
        firing: false,
        value: null,
        message: "maxmemory is not set on any master",
      });
      const unknown = rule("redis_memory_high").evaluate(
        snapshot(sample(0, { redis: { unknown: "redis INFO did not answer within 1000 ms" } })),
      );
      expect(unknown).toMatchObject({ firing: false, value: null, unknown: true });
      expect(unknown.message).toContain("did not answer");
    });
  });

  it("counter rules fire on an increase within the window and treat a counter that went down as reset", () => {
    const evicted = (n: number) => ({ redis: { nodes: [{ node: "a:1", usedBytes: 0, maxBytes: 0, evictedKeys: n }] } });
    const evictions = rule("redis_evictions");
    expect(evictions.evaluate(snapshot(sample(MINUTE, evicted(12)), sample(0, evicted(2))))).toMatchObject({
      firing: true,
      value: 10,
    });
    expect(evictions.evaluate(snapshot(sample(MINUTE, evicted(2)), sample(0, evicted(2))))).toMatchObject({
      firing: false,
      value: 0,
    });
    // Redis restarted: its evicted_keys started again from 0.
    expect(evictions.evaluate(snapshot(sample(MINUTE, evicted(4)), sample(0, evicted(500))))).toMatchObject({
      firing: true,
      value: 4,
    });
    expect(evictions.evaluate(snapshot(sample(MINUTE, { redis: { unknown: "down" } }), sample(0)))).toMatchObject({
      firing: false,
      value: null,
      unknown: true,
    });

    const ingest = (dropped: number, rejected: number) => ({ dropped, rejected, buffered: 0, capacity: 100 });
    expect(
      rule("ingest_rows_lost").evaluate(snapshot(sample(MINUTE, { ingest: ingest(3, 1) }), sample(0))),
    ).toMatchObject({ firing: true, value: 4 });
    expect(
      rule("ingest_rows_lost").evaluate(snapshot(sample(MINUTE, { ingest: null }), sample(0, { ingest: null }))),
    ).toMatchObject({ firing: false, value: null });
    expect(
      rule("invalidation_errors").evaluate(snapshot(sample(MINUTE, { invalidationErrors: 2 }), sample(0))),
    ).toMatchObject({ firing: true, value: 2 });
    expect(
      rule("ws_slow_consumers").evaluate(snapshot(sample(MINUTE, { wsSlowConsumerCloses: 1 }), sample(0))),
    ).toMatchObject({ firing: true, value: 1 });
    expect(
      rule("ws_slow_consumers").evaluate(
        snapshot(sample(MINUTE, { wsSlowConsumerCloses: 1 }), sample(0, { wsSlowConsumerCloses: null })),
      ),
    ).toMatchObject({ firing: false, value: null });
  });

  it("redis_evictions takes each master's increase against its own baseline, so a restart or failover on one master adds nothing from the others", () => {
    const nodes = (...counts: [string, number][]) => ({
      redis: { nodes: counts.map(([node, evictedKeys]) => ({ node, usedBytes: 0, maxBytes: 0, evictedKeys })) },
    });
    const evictions = rule("redis_evictions");
    // a: 1,000,000 lifetime evictions, unchanged; b restarted (500 -> 0). Summed, the total fell from 1,000,500 to
    // 1,000,000 and a reset-as-sum rule would count 1,000,000 as new evictions.
    expect(
      evictions.evaluate(
        snapshot(
          sample(MINUTE, nodes(["a:1", 1_000_000], ["b:2", 0])),
          sample(0, nodes(["a:1", 1_000_000], ["b:2", 500])),
        ),
      ),
    ).toMatchObject({
      firing: false,
      value: 0,
    });
    // Failover: b's replica c took over (its own counter, first seen now: no baseline, adds nothing); a evicted 3.
    expect(
      evictions.evaluate(
        snapshot(
          sample(MINUTE, nodes(["a:1", 1_000_003], ["c:3", 40])),
          sample(0, nodes(["a:1", 1_000_000], ["b:2", 500])),
        ),
      ),
    ).toMatchObject({
      firing: true,
      value: 3,
    });
    // A master whose reading is missing from the oldest sample compares with the next sample that has it.
    expect(
      evictions.evaluate(
        snapshot(
          sample(2 * MINUTE, nodes(["a:1", 10], ["b:2", 7])),
          sample(0, nodes(["a:1", 10])),
          sample(MINUTE, nodes(["a:1", 10], ["b:2", 5])),
        ),
      ),
    ).toMatchObject({
      firing: true,
      value: 2,
    });
  });

  it("ingest_buffer_high compares the buffer with its bound", () => {
    const buffered = (rows: number) =>
      sample(0, { ingest: { dropped: 0, rejected: 0, buffered: rows, capacity: 1_000 } });
    expect(rule("ingest_buffer_high").evaluate(snapshot(buffered(801)))).toMatchObject({ firing: true, value: 80.1 });
    expect(rule("ingest_buffer_high").evaluate(snapshot(buffered(800)))).toMatchObject({ firing: false, value: 80 });
  });

  it("readiness rules fire on a failing check with its (scrubbed) error", () => {
    const down = sample(0, {
      readiness: [
        { name: "redis", up: true },
        { name: "postgres", up: false, error: "postgres did not answer within 1000 ms" },
      ],
    });
    expect(rule("postgres_unready").evaluate(snapshot(down))).toEqual({
      firing: true,
      value: 0,
      message: "postgres readiness check fails: postgres did not answer within 1000 ms",
    });
    expect(rule("redis_unready").evaluate(snapshot(down))).toMatchObject({ firing: false, value: 1 });
    expect(rule("redis_unready").evaluate(snapshot(sample(0, { readiness: [] })))).toMatchObject({
      firing: false,
      value: null,
      unknown: true,
    });
  });
});

describe("rate rules and the p99 rule", () => {
  const at = (
    t: number,
    cache: { lookups: number; hits: number; errors?: number },
    locks?: { attempts: number; failures: number },
  ) => sample(t, { cache, locks: locks ?? null });

  it("cache_error_rate_high fires above 1% of lookups in the window, judged from 100 lookups", () => {
    const fire = rule("cache_error_rate_high").evaluate(
      snapshot(at(MINUTE, { lookups: 1_200, hits: 1_000, errors: 15 }), at(0, { lookups: 200, hits: 100, errors: 0 })),
    );
    expect(fire).toMatchObject({ firing: true, value: 1.5 });
    const floor = rule("cache_error_rate_high").evaluate(
      snapshot(at(MINUTE, { lookups: 50, hits: 0, errors: 50 }), at(0, { lookups: 0, hits: 0, errors: 0 })),
    );
    expect(floor).toMatchObject({ firing: false });
    expect(rule("cache_error_rate_high").severity).toBe("high");
  });

  it("lock_failure_rate_high fires above 5% failed acquisitions, unknown without lock counters", () => {
    const fire = rule("lock_failure_rate_high").evaluate(
      snapshot(
        at(MINUTE, { lookups: 0, hits: 0 }, { attempts: 100, failures: 10 }),
        at(0, { lookups: 0, hits: 0 }, { attempts: 0, failures: 0 }),
      ),
    );
    expect(fire).toMatchObject({ firing: true, value: 10 });
    expect(
      rule("lock_failure_rate_high").evaluate(
        snapshot(at(MINUTE, { lookups: 0, hits: 0 }), at(0, { lookups: 0, hits: 0 })),
      ),
    ).toMatchObject({ unknown: true });
  });

  it("cache_p99_high compares the fleet window p99 with 500 ms", () => {
    expect(rule("cache_p99_high").evaluate(snapshot(sample(0, { cacheP99Ms: 750 })))).toMatchObject({
      firing: true,
      value: 750,
    });
    expect(rule("cache_p99_high").evaluate(snapshot(sample(0, { cacheP99Ms: 120 })))).toMatchObject({ firing: false });
    expect(rule("cache_p99_high").evaluate(snapshot(sample(0, { cacheP99Ms: null })))).toMatchObject({ unknown: true });
  });
});
