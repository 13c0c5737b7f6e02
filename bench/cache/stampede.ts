import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { startBenchChild, type BenchChild } from "../lib/child-process.ts";
import { processBarrier } from "../lib/process-barrier.ts";
import { formatMs, formatTable } from "../lib/table.ts";
import type { BenchContext } from "./bench-context.ts";
import type { StampedeChildArgs, StampedeChildResult } from "./stampede-child.ts";

const PROCESSES = 4;
const CALLERS_PER_PROCESS = 250;
const LOADER_MS = 200;
const CHILD_SCRIPT = fileURLToPath(new URL("./stampede-child.ts", import.meta.url));

/**
 * 1,000 concurrent callers of one cold key, 250 in each of 4 child processes released together by a Redis barrier.
 * The loader INCRs a Redis counter: it must have run exactly once, and every caller must get its value.
 */
export async function runStampedeBench(context: BenchContext): Promise<void> {
  const prefix = `${context.prefix}:stampede`;
  const args: StampedeChildArgs = {
    url: context.url,
    prefix,
    barrier: `${prefix}:barrier`,
    counterKey: `${prefix}:loader-runs`,
    key: "stampede:cold-key",
    callers: CALLERS_PER_PROCESS,
    loaderMs: LOADER_MS,
  };
  // BLPOP blocks by design: this connection has no command timeout.
  const coordinator = new Redis(context.url, { protocol: 2 });
  const children: BenchChild<StampedeChildResult>[] = [];
  let results: StampedeChildResult[];
  let loaderRuns: number;
  try {
    for (let index = 0; index < PROCESSES; index++) {
      children.push(startBenchChild<StampedeChildResult>(CHILD_SCRIPT, [JSON.stringify(args)], 60_000));
    }
    const released = processBarrier.releaseWhenReady(coordinator, args.barrier, PROCESSES);
    // If a child fails first, the race below settles without it and `released` rejects later on disconnect.
    released.catch(() => undefined);
    // A child that dies before the barrier would otherwise leave the coordinator blocked until its timeout.
    await Promise.race([released, Promise.all(children.map((child) => child.result)).then(() => released)]);
    results = await Promise.all(children.map((child) => child.result));
    loaderRuns = Number((await coordinator.get(args.counterKey)) ?? 0);
  } finally {
    await Promise.all(children.map((child) => child.kill()));
    await coordinator.del(args.counterKey, `${args.barrier}:ready`, `${args.barrier}:go`);
    coordinator.disconnect();
  }

  const callers = PROCESSES * CALLERS_PER_PROCESS;
  const ok = results.reduce((sum, result) => sum + result.ok - result.wrongValue, 0);
  const statuses: Record<string, number> = {};
  for (const result of results) {
    for (const [status, count] of Object.entries(result.statuses)) statuses[status] = (statuses[status] ?? 0) + count;
  }
  const runsLabel = context.targets.record({
    target: "1,000 callers of one cold key over 4 processes: loader runs exactly once",
    measured: `${loaderRuns} run(s)`,
    pass: loaderRuns === 1,
  });
  const okLabel = context.targets.record({
    target: "1,000 callers of one cold key over 4 processes: every caller gets the value",
    measured: `${ok}/${callers}`,
    pass: ok === callers,
  });
  context.print(
    `### Stampede: ${callers.toLocaleString("en-US")} callers of one cold key in ${PROCESSES} processes (loader takes ${LOADER_MS} ms)`,
  );
  context.print();
  context.print(
    formatTable(
      ["process", "callers answered", "statuses", "errors", "release to last answer"],
      results.map((result) => [
        String(result.pid),
        `${result.ok - result.wrongValue}/${CALLERS_PER_PROCESS}`,
        Object.entries(result.statuses)
          .map(([status, count]) => `${status} ${count}`)
          .join(", "),
        result.errors.length === 0 ? "none" : `${result.errors.length}: ${result.errors[0]}`,
        formatMs(result.elapsedMs),
      ]),
    ),
  );
  context.print();
  context.print(`loader runs (Redis INCR): ${loaderRuns} (target exactly 1): ${runsLabel}`);
  context.print(`callers with the value: ${ok}/${callers}: ${okLabel}`);
  context.print(`statuses over all processes: ${JSON.stringify(statuses)}`);
  context.print();
}
