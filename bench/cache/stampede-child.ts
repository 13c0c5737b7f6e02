/**
 * One of the stampede bench's processes: builds our cache, waits at the barrier with the other processes, then makes
 * `callers` concurrent `rememberWithMeta` calls of one cold key whose loader counts its runs in Redis (INCR).
 * Prints one JSON line: how many calls succeeded, their statuses, and any error messages.
 * Arguments: a single JSON object (see StampedeChildArgs).
 */
import { Redis } from "ioredis";
import { BENCH_VALUE } from "../lib/bench-value.ts";
import { assertLoopback } from "../lib/bench-redis.ts";
import { processBarrier } from "../lib/process-barrier.ts";
import { makeOurCache } from "./our-cache.ts";

/** What the parent passes to each stampede child. */
export interface StampedeChildArgs {
  url: string;
  prefix: string;
  barrier: string;
  counterKey: string;
  key: string;
  callers: number;
  /** Simulated query time of the loader in ms, so every process contends while it runs. */
  loaderMs: number;
}

/** What each stampede child prints. */
export interface StampedeChildResult {
  pid: number;
  ok: number;
  wrongValue: number;
  statuses: Record<string, number>;
  errors: string[];
  /** Time from the barrier's release to the last caller's answer, in ms. */
  elapsedMs: number;
}

const args = JSON.parse(process.argv[2] ?? "{}") as StampedeChildArgs;
assertLoopback(args.url);
const counter = new Redis(args.url, { protocol: 2 });
const handle = await makeOurCache({ url: args.url, prefix: args.prefix, l1: true });
try {
  // A no-op read first, so connecting is not part of the contended start.
  await handle.cache.get(`${args.key}:warm-up`);
  const loader = async (): Promise<typeof BENCH_VALUE & { loaderPid: number }> => {
    await counter.incr(args.counterKey);
    await new Promise((resolve) => setTimeout(resolve, args.loaderMs));
    return { ...BENCH_VALUE, loaderPid: process.pid };
  };
  await processBarrier.arriveAndWait(counter, args.barrier);
  const start = performance.now();
  const outcomes = await Promise.allSettled(
    Array.from({ length: args.callers }, () => handle.cache.rememberWithMeta(args.key, "1m", loader)),
  );
  const result: StampedeChildResult = {
    pid: process.pid,
    ok: 0,
    wrongValue: 0,
    statuses: {},
    errors: [],
    elapsedMs: performance.now() - start,
  };
  for (const outcome of outcomes) {
    if (outcome.status === "rejected") {
      result.errors.push(String(outcome.reason));
      continue;
    }
    result.ok += 1;
    result.statuses[outcome.value.status] = (result.statuses[outcome.value.status] ?? 0) + 1;
    if (outcome.value.value.guildId !== BENCH_VALUE.guildId) result.wrongValue += 1;
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await handle.close();
  counter.disconnect();
}
