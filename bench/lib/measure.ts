/** How one throughput measurement runs. */
export interface ThroughputOptions {
  /** Calls kept in flight at once (1 = awaited one by one). */
  inFlight: number;
  /** Length of one round in ms (default 150). */
  roundMs?: number;
  /** Measured rounds; the median is reported (default 15). */
  rounds?: number;
  /** Unreported rounds run first so the JIT, connections and caches are warm (default 2). */
  warmupRounds?: number;
  /** Unreported calls each contender makes before its warm-up rounds, however long they take (default 2,000). */
  warmupCalls?: number;
}

/** Result of a throughput measurement: the median and every round, in calls per second. */
export interface Throughput {
  median: number;
  rounds: number[];
}

/** Calls between two clock reads: reading the clock on every call would cost more than an L1 hit. */
const CALLS_PER_CLOCK_READ = 32;

/** One thing being measured: a name and the call it makes (`i` spreads calls over keys). */
export interface Contender {
  name: string;
  call: (i: number) => Promise<unknown>;
}

/**
 * Runs `call` for `roundMs` with `inFlight` workers (each awaits its call before making the next) and returns calls
 * per second. `i` increases across all workers, so `i % n` spreads over n keys.
 */
export async function runRound(call: Contender["call"], inFlight: number, roundMs: number): Promise<number> {
  let next = 0;
  let calls = 0;
  const start = performance.now();
  const end = start + roundMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      for (let batch = 0; batch < CALLS_PER_CLOCK_READ; batch++) await call(next++);
      calls += CALLS_PER_CLOCK_READ;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return (calls * 1000) / (performance.now() - start);
}

/** Makes `count` calls with `inFlight` workers (a warm-up that does not depend on the machine's speed). */
async function runCalls(call: Contender["call"], inFlight: number, count: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await call(next++);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

/**
 * Measures several contenders in interleaved rounds (round 1 of each, then round 2 of each, ...), so a slow spell
 * of the machine (other processes share its 2 cores) hits every contender alike instead of one of them. The order
 * rotates by one each round, so no contender always runs right after the same one (and pays, say, for the
 * garbage a heavier one left behind). Warm-up is by calls as well as by time: on a loaded machine two short
 * rounds are only a few hundred calls, too few for the JIT to settle a deeper call path. Returns each
 * contender's median and rounds, by name.
 */
export async function measureInterleaved(
  contenders: Contender[],
  options: ThroughputOptions,
): Promise<Map<string, Throughput>> {
  const { inFlight, roundMs = 150, rounds = 15, warmupRounds = 2, warmupCalls = 2_000 } = options;
  for (const contender of contenders) await runCalls(contender.call, inFlight, warmupCalls);
  for (let round = 0; round < warmupRounds; round++) {
    for (const contender of contenders) await runRound(contender.call, inFlight, roundMs);
  }
  const measured = new Map<string, number[]>(contenders.map((contender) => [contender.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (let turn = 0; turn < contenders.length; turn++) {
      const contender = contenders[(turn + round) % contenders.length]!;
      measured.get(contender.name)!.push(await runRound(contender.call, inFlight, roundMs));
    }
  }
  return new Map([...measured].map(([name, values]) => [name, { median: median(values), rounds: values }]));
}

/**
 * Ratio of two contenders measured in the same interleaved rounds: the median of the per-round ratios. Each pair
 * ran back to back, so a slow spell of the machine divides out; this is steadier than a ratio of two medians.
 */
export function pairedRatio(numerator: Throughput, denominator: Throughput): number {
  const ratios = numerator.rounds.map((value, round) => value / denominator.rounds[round]!);
  return median(ratios);
}

/** Median of a non-empty list. */
export function median(values: number[]): number {
  return percentile(values, 50);
}

/** The p-th percentile (nearest rank) of a non-empty list. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error("percentile of an empty list");
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Milliseconds elapsed while `fn` runs, from a monotonic clock. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}
