import { analyticsAffectedBy } from "../../backend/src/invalidation/invalidation-table.ts";
import { formatMs, formatRatio, formatTable } from "../lib/table.ts";
import { TargetLog, passLabel } from "../lib/targets.ts";
import type { BusyGuildOptions, BusyGuildRun } from "./busy-guild-bench.ts";
import { dashboardStats, type LatencyStats } from "./dashboard-stats.ts";
import { evaluateFreshness } from "./freshness.ts";

const HIT_RATE_TARGET = 0.95;
const KIND_COUNTS = [
  ["message", "messages"],
  ["typing", "typing"],
  ["presence", "presence"],
  ["roleChange", "roleChanges"],
] as const;

const ms = (value: number): string => (Number.isFinite(value) ? formatMs(value) : "-");
const percent = (value: number): string => `${(value * 100).toFixed(2)}%`;
const latencyCells = (stats: LatencyStats): string[] => [
  String(stats.count),
  ms(stats.p50),
  ms(stats.p99),
  ms(stats.max),
];

/** Prints the results of a busy-guild run with PASS/FAIL per target; returns true when every target passed. */
export function printReport(run: BusyGuildRun, options: BusyGuildOptions): boolean {
  const targets = new TargetLog();
  const stats = dashboardStats(run.samples);
  const seconds = options.seconds;

  console.log(
    `\nguild ${run.guildId}; event loop: longest gap between pump ticks ${ms(run.pump.maxTickGapMs)} (ticks every 5 ms)`,
  );
  console.log("\n## Events: gateway -> bot -> PostgreSQL");
  const lost = KIND_COUNTS.map(([kind, count]) => run.dispatched[kind] - run.durable[count]);
  console.log(
    formatTable(
      [
        "kind",
        "asked /s",
        "sent in run",
        "sent /s",
        "dispatched in all (warm-up incl.)",
        "durable rows at end",
        "missing",
      ],
      KIND_COUNTS.map(([kind, count], index) => [
        kind,
        String(options.rates[kind]),
        String(run.pump.sent[kind]),
        (run.pump.sent[kind] / seconds).toFixed(1),
        String(run.dispatched[kind]),
        String(run.durable[count]),
        String(lost[index]),
      ]),
    ),
  );
  const noLoss = lost.every((missing) => missing === 0) && run.pump.undelivered === 0 && run.ingestDropped === 0;
  console.log(
    `no event lost (durable = dispatched, 0 undelivered, 0 dropped by ingestion): ${targets.record({ target: "no event lost", measured: `missing ${lost.join("/")}, undelivered ${run.pump.undelivered}, dropped ${run.ingestDropped}`, pass: noLoss })}`,
  );

  console.log("\n## Dashboard: analytics over HTTP (open loop)");
  const analyticsSent = stats.analytics.count;
  console.log(
    `analytics requests: ${analyticsSent} (${(analyticsSent / seconds).toFixed(1)}/s asked ${options.requestsPerSecond}/s); static: ${stats.static.count}`,
  );
  console.log(
    formatTable(
      ["X-Cache", "responses", "share", "p50", "p99", "max"],
      [...stats.byCache].map(([name, group]) => [
        name,
        String(group.count),
        percent(group.count / analyticsSent),
        ms(group.p50),
        ms(group.p99),
        ms(group.max),
      ]),
    ),
  );
  console.log(
    formatTable(
      ["analytic", "responses", "MISS", "p50", "p99", "max", "body bytes"],
      [...stats.byType].map(([type, group]) => [
        type,
        String(group.count),
        String(group.misses),
        ms(group.p50),
        ms(group.p99),
        ms(group.max),
        String(run.bodyBytes.get(type as never) ?? "-"),
      ]),
    ),
  );
  const hitLabel = targets.record({
    target: `hit rate (HIT + STALE) >= ${percent(HIT_RATE_TARGET)}`,
    measured: percent(stats.hitRate),
    pass: stats.hitRate >= HIT_RATE_TARGET,
  });
  console.log(
    `hit rate (HIT + STALE over all analytics requests): ${percent(stats.hitRate)}, target >= ${percent(HIT_RATE_TARGET)}: ${hitLabel}`,
  );
  // With INVALIDATION_MODE=hard each invalidation turns the next request of every affected analytic into a MISS:
  // that mode's ceiling at this load (soft mode serves the old value while one recompute runs, so it can exceed it).
  const moving = analyticsAffectedBy(KIND_COUNTS.map(([kind]) => kind).filter((kind) => options.rates[kind] > 0));
  const ceiling = 1 - (run.invalidations * moving.length) / analyticsSent;
  const windowFor95 = moving.length / ((1 - HIT_RATE_TARGET) * options.requestsPerSecond);
  console.log(
    `analytics the events invalidate: ${moving.join(", ")} (${moving.length} of 6); hard-mode ceiling = 1 - invalidations x ${moving.length} / requests = ${percent(ceiling)}; ` +
      `in hard mode a window of at least ${(windowFor95 * 1000).toFixed(0)} ms would allow ${percent(HIT_RATE_TARGET)} at ${options.requestsPerSecond} requests/s`,
  );
  const errorsLabel = targets.record({
    target: "every request answered 200",
    measured: `${stats.errors} errors`,
    pass: stats.errors === 0,
  });
  console.log(
    `non-200 responses: ${stats.errors}${stats.firstError ? ` (first: ${stats.firstError})` : ""}: ${errorsLabel}`,
  );

  console.log("\n## Latency against the limit measured in the same run");
  const hit = stats.byCache.get("HIT");
  const rows: [string, LatencyStats | undefined][] = [
    ["limit: static JSON endpoint (same bytes, same auth + rate limiter)", stats.static],
    ["analytics, all responses", stats.analytics],
    ["analytics, X-Cache HIT", hit],
    ["analytics, X-Cache MISS", stats.byCache.get("MISS")],
  ];
  console.log(
    formatTable(
      ["requests", "count", "p50", "p99", "max", "p50 / limit p50", "p99 / limit p99"],
      rows.map(([name, group]) =>
        group
          ? [
              name,
              ...latencyCells(group),
              formatRatio(group.p50 / stats.static.p50),
              formatRatio(group.p99 / stats.static.p99),
            ]
          : [name, "0", "-", "-", "-", "-", "-"],
      ),
    ),
  );

  console.log("\n## Invalidations");
  const expected = (seconds * 1000) / options.coalesceMs;
  const bound = Math.ceil(expected) + 1;
  const invalidationLabel = targets.record({
    target: `invalidations <= one per window (${bound})`,
    measured: String(run.invalidations),
    pass: run.invalidations <= bound && run.invalidationErrors === 0,
  });
  console.log(
    `invalidations during the run: ${run.invalidations} (run ${seconds} s / window ${options.coalesceMs} ms = ${expected.toFixed(1)}; ${formatRatio(run.invalidations / expected)} of that); ` +
      `events that rode on another's invalidation: ${run.coalescedEvents}; errors: ${run.invalidationErrors}; at most one per window: ${invalidationLabel}`,
  );

  console.log("\n## Freshness: every response against the ledger of durable rows");
  // One recompute: the p99 of the cache's loader runs (each is one analytics computation, whether a reader waited
  // for it as a MISS or it ran in the background after a soft invalidation), or of MISS latency if that is larger.
  const missP99Ms = stats.byCache.get("MISS")?.p99 ?? 0;
  const recomputeMs = Math.max(missP99Ms, run.loaderP99Ms ?? 0);
  const freshness = evaluateFreshness(run.samples, run.ledger, options.coalesceMs + recomputeMs, run.runStart);
  console.log(
    `ledger: ${run.ledgerResolution.polls} polls of PostgreSQL, median period ${ms(run.ledgerResolution.medianPeriodMs)} (the time resolution of every staleness below), ${run.ledgerResolution.failedPolls} failed`,
  );
  console.log(
    `allowance: coalescing window ${options.coalesceMs} ms + one recompute ${ms(recomputeMs)} (max of loader p99 ${run.loaderP99Ms === null ? "-" : ms(run.loaderP99Ms)} and MISS p99 ${ms(missP99Ms)}) = ${ms(freshness.allowanceMs)}`,
  );
  console.log(
    formatTable(
      [
        "responses checked",
        "violations (certain)",
        "possible violations",
        "max staleness (bounds)",
        "p99 staleness",
        "over-counted",
      ],
      [
        [
          String(freshness.checked),
          String(freshness.violations),
          String(freshness.possibleViolations),
          `${ms(freshness.maxStalenessMs.low)} .. ${ms(freshness.maxStalenessMs.high)}`,
          ms(freshness.p99StalenessMs),
          String(freshness.overCounted),
        ],
      ],
    ),
  );
  if (freshness.worst) console.log(`stalest response: ${JSON.stringify(freshness.worst)}`);
  const freshLabel = targets.record({
    target: "every response reflects every event durable before (window + one recompute)",
    measured: `${freshness.violations} violations, max staleness ${ms(freshness.maxStalenessMs.low)}`,
    pass: freshness.violations === 0 && freshness.overCounted === 0 && freshness.checked > 0,
  });
  console.log(`freshness target: ${freshLabel}`);

  console.log("\n## Targets");
  console.log(
    formatTable(
      ["target", "measured", "result"],
      targets.results.map((result) => [result.target, result.measured, passLabel(result.pass)]),
    ),
  );
  console.log(`\nredis keys of the run deleted: ${run.keysDeleted}`);
  console.log(targets.allPassed ? "ALL TARGETS PASS" : "SOME TARGETS FAIL");
  return targets.allPassed;
}
