import type { CacheStatus } from "../../backend/src/cache/cache-types.ts";
import { BENCH_VALUE } from "../lib/bench-value.ts";
import { ThrowawayRedis } from "../../__tests__/support/redis-server.ts";
import { median, percentile } from "../lib/measure.ts";
import { formatMs, formatTable } from "../lib/table.ts";
import type { BenchContext, OurCacheHandle } from "./bench-context.ts";

/** The service's default per-command timeout (REDIS_COMMAND_TIMEOUT_MS). */
const COMMAND_TIMEOUT_MS = 250;
/**
 * Allowed lateness past the command timeout: timers fire after their delay, never before, and late by however long
 * the event loop is busy, so a call that waited exactly the timeout measures a little above it.
 */
const TIMER_SLACK_MS = 25;
const CONCURRENT_CALLS = 50;
const SEQUENTIAL_CALLS = 200;
const OVERHEAD_WARMUP_PAIRS = 2_000;
const OVERHEAD_PAIRS = 20_000;

const loader = async (): Promise<typeof BENCH_VALUE> => BENCH_VALUE;

/** How Redis becomes unreachable: refused connections (killed) or a server that never answers (frozen). */
type Outage = "killed" | "frozen";

interface OutageResult {
  outage: Outage;
  calls: number;
  errors: number;
  statuses: Partial<Record<CacheStatus, number>>;
  maxMs: number;
  p99Ms: number;
  overheadMedianMs: number;
  overheadP99Ms: number;
}

/**
 * Redis unreachable, two ways: its server SIGKILLed, and SIGSTOPped (connections open, no replies). Times every
 * `remember` call (50 at once, then 200 one by one) against the command timeout, then, with the breaker open, the
 * overhead `remember` adds over calling the loader directly.
 */
export async function runRedisUnreachableBench(context: BenchContext): Promise<void> {
  const results: OutageResult[] = [];
  for (const outage of ["killed", "frozen"] as const) results.push(await measureOutage(context, outage));

  const rows = results.map((result) => {
    const waitLabel = context.targets.record({
      target: `Redis ${result.outage}: no call waits longer than the ${COMMAND_TIMEOUT_MS} ms command timeout`,
      measured: `max ${formatMs(result.maxMs)}`,
      pass: result.maxMs <= COMMAND_TIMEOUT_MS + TIMER_SLACK_MS && result.errors === 0,
      note: `allowed ${TIMER_SLACK_MS} ms timer lateness; ${result.errors} failed calls`,
    });
    const overheadLabel = context.targets.record({
      target: `Redis ${result.outage}, breaker open: remember adds < 1 ms over the loader (p99)`,
      measured: `median ${formatMs(result.overheadMedianMs)}, p99 ${formatMs(result.overheadP99Ms)}`,
      pass: result.overheadP99Ms < 1,
    });
    return [
      result.outage,
      String(result.calls),
      String(result.errors),
      Object.entries(result.statuses)
        .map(([status, count]) => `${status} ${count}`)
        .join(", "),
      formatMs(result.p99Ms),
      `${formatMs(result.maxMs)} (${waitLabel})`,
      formatMs(result.overheadMedianMs),
      `${formatMs(result.overheadP99Ms)} (${overheadLabel})`,
    ];
  });
  context.print(`### Redis unreachable (command timeout ${COMMAND_TIMEOUT_MS} ms)`);
  context.print();
  context.print(
    formatTable(
      [
        "outage",
        "calls",
        "failed calls",
        "statuses",
        "p99 wait",
        `max wait (<= ${COMMAND_TIMEOUT_MS} ms + ${TIMER_SLACK_MS} ms slack)`,
        "breaker-open overhead median",
        "overhead p99 (< 1 ms)",
      ],
      rows,
    ),
  );
  context.print();
}

async function measureOutage(context: BenchContext, outage: Outage): Promise<OutageResult> {
  const server = await ThrowawayRedis.start();
  let handle: OurCacheHandle | undefined;
  try {
    handle = await context.makeOurCache({
      url: server.url,
      prefix: `${context.prefix}:outage`,
      l1: false,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      breakerFailureThreshold: 5,
      // Long enough that the breaker stays open (no half-open trials) while the overhead is measured.
      breakerRecoveryTimeoutMs: 120_000,
    });
    const { cache } = handle;
    const warm = await cache.rememberWithMeta("outage:warm", "1m", loader);
    if (warm.status !== "miss") throw new Error(`outage bench: expected a miss before the outage, got ${warm.status}`);

    if (outage === "killed") await server.kill();
    else server.freeze();

    const waits: number[] = [];
    const statuses: Partial<Record<CacheStatus, number>> = {};
    let errors = 0;
    const timedCall = async (key: string): Promise<void> => {
      const start = performance.now();
      try {
        const result = await cache.rememberWithMeta(key, "1m", loader);
        statuses[result.status] = (statuses[result.status] ?? 0) + 1;
      } catch {
        errors += 1;
      } finally {
        waits.push(performance.now() - start);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENT_CALLS }, (_, index) => timedCall(`outage:concurrent:${index}`)));
    for (let index = 0; index < SEQUENTIAL_CALLS; index++) await timedCall(`outage:sequential:${index}`);

    const breakerState = (await cache.getStats({ includeKeyspace: false })).breaker.state;
    if (breakerState !== "open")
      throw new Error(`outage bench: breaker is ${breakerState} after the outage, expected open`);
    const overheads = await measureBreakerOverhead(handle);
    return {
      outage,
      calls: waits.length,
      errors,
      statuses,
      maxMs: Math.max(...waits),
      p99Ms: percentile(waits, 99),
      overheadMedianMs: median(overheads),
      overheadP99Ms: percentile(overheads, 99),
    };
  } finally {
    await server.close();
    await handle?.close();
  }
}

/**
 * Per-call overhead of `remember` while the breaker is open: pairs of (loader called directly, remember calling the
 * same loader), the difference of each pair, so a slow spell of the machine affects both halves of a pair alike.
 */
async function measureBreakerOverhead(handle: OurCacheHandle): Promise<number[]> {
  const overheads: number[] = [];
  for (let pair = 0; pair < OVERHEAD_WARMUP_PAIRS + OVERHEAD_PAIRS; pair++) {
    const key = `outage:overhead:${pair % 1_000}`;
    const start = performance.now();
    await loader();
    const direct = performance.now();
    const result = await handle.cache.rememberWithMeta(key, "1m", loader);
    const end = performance.now();
    if (result.status !== "bypass") throw new Error(`breaker overhead: expected bypass, got ${result.status}`);
    if (pair >= OVERHEAD_WARMUP_PAIRS) overheads.push(end - direct - (direct - start));
  }
  return overheads;
}
