import type { DashboardSample } from "./dashboard-load.ts";
import type { DurabilityLedger, DurableCounts } from "./durability-ledger.ts";

/** How fresh the analytics responses were, against the ledger of durable rows. */
export interface FreshnessReport {
  /** Responses checked (analytics 200s). */
  checked: number;
  /** Staleness allowed: coalescing window + one recompute, ms. */
  allowanceMs: number;
  /** Responses that certainly missed a row durable more than `allowanceMs` before the request. */
  violations: number;
  /** Responses that may have (the ledger's time bounds straddle the allowance); includes `violations`. */
  possibleViolations: number;
  /** Largest staleness, lower and upper bound (ms): request time minus when the oldest missing row became durable. */
  maxStalenessMs: { low: number; high: number };
  /** 99th percentile of the lower-bound staleness over responses, ms. */
  p99StalenessMs: number;
  /** Responses that reflected more rows than ever became durable (a counting bug in the bench or the service). */
  overCounted: number;
  /** The worst response, for the report. */
  worst?: { type: string; count: keyof DurableCounts; reflected: number; atMs: number };
}

/**
 * Checks every analytics response against the ledger: for each count a response reflects (r rows), the (r+1)-th
 * row is the oldest one it misses. Staleness is the request's start minus when that row became durable (0 when it
 * was not durable yet); a response violates the target when its staleness exceeds `allowanceMs`.
 */
export function evaluateFreshness(
  samples: DashboardSample[],
  ledger: DurabilityLedger,
  allowanceMs: number,
  runStart: number,
): FreshnessReport {
  const report: FreshnessReport = {
    checked: 0,
    allowanceMs,
    violations: 0,
    possibleViolations: 0,
    maxStalenessMs: { low: 0, high: 0 },
    p99StalenessMs: 0,
    overCounted: 0,
  };
  const final = ledger.latest();
  const lows: number[] = [];
  for (const sample of samples) {
    if (!sample.counts) continue;
    report.checked += 1;
    let low = 0;
    let high = 0;
    let overCounted = false;
    let worstOfSample: FreshnessReport["worst"];
    for (const [name, reflected] of Object.entries(sample.counts) as [keyof DurableCounts, number][]) {
      if (reflected > final[name]) overCounted = true;
      const missing = ledger.durableAt(name, reflected + 1);
      // The oldest missing row was not durable yet when the request was sent: nothing it could have shown is missing.
      if (!missing || missing.earliest >= sample.startedAt) continue;
      const countLow = Math.max(0, sample.startedAt - missing.latest);
      const countHigh = Number.isFinite(missing.earliest) ? sample.startedAt - missing.earliest : countLow;
      if (countLow > low || !worstOfSample)
        worstOfSample = { type: sample.type, count: name, reflected, atMs: Math.round(sample.startedAt - runStart) };
      low = Math.max(low, countLow);
      high = Math.max(high, countHigh);
    }
    if (worstOfSample && low > report.maxStalenessMs.low) report.worst = worstOfSample;
    if (overCounted) report.overCounted += 1;
    lows.push(low);
    report.maxStalenessMs.low = Math.max(report.maxStalenessMs.low, low);
    report.maxStalenessMs.high = Math.max(report.maxStalenessMs.high, high);
    if (low > allowanceMs) report.violations += 1;
    if (high > allowanceMs) report.possibleViolations += 1;
  }
  lows.sort((a, b) => a - b);
  report.p99StalenessMs = lows.length ? lows[Math.min(lows.length - 1, Math.ceil(lows.length * 0.99) - 1)]! : 0;
  return report;
}
