/**
 * The cache benchmark: one command, one process run, bounded in time, traffic to 127.0.0.1 only.
 *   npx tsx bench/cache/run.ts [--only l2,l1,stampede,tags,outage] [--rounds 12] [--round-ms 150]
 * It measures the limit (raw ioredis GET + JSON.parse of the same ~1 KB value on the same Redis) in every hit
 * shape, prints every figure as a ratio of it with PASS/FAIL per target, and exits 1 if any target failed.
 */
import { execFileSync } from "node:child_process";
import os from "node:os";
import { Command, InvalidArgumentError } from "commander";
import { BENCH_REDIS_URL, benchPrefix, deleteByPrefix, openBenchRedis } from "../lib/bench-redis.ts";
import { formatTable } from "../lib/table.ts";
import { TargetLog, passLabel } from "../lib/targets.ts";
import type { BenchContext } from "./bench-context.ts";
import { runL1HitBench, runL2HitBench } from "./hit-throughput.ts";
import { makeOurCache } from "./our-cache.ts";
import { runRedisUnreachableBench } from "./redis-unreachable.ts";
import { runStampedeBench } from "./stampede.ts";
import { runTagInvalidationBench } from "./tag-invalidation.ts";

const SECTIONS = {
  l2: runL2HitBench,
  l1: runL1HitBench,
  stampede: runStampedeBench,
  tags: runTagInvalidationBench,
  outage: runRedisUnreachableBench,
} as const;
type SectionName = keyof typeof SECTIONS;

/** The whole run must finish well under 5 minutes; past this it is stopped and reported as failed. */
const RUN_LIMIT_MS = 280_000;

const program = new Command("cache-bench")
  .description("SpyWatcher cache benchmarks: ratios against raw ioredis GET + JSON.parse")
  .option("--only <sections>", `comma-separated subset of ${Object.keys(SECTIONS).join(",")}`, parseSections)
  .option("--rounds <n>", "measured rounds per figure (median reported)", positiveInteger, 12)
  .option("--round-ms <ms>", "length of one throughput round", positiveInteger, 150)
  .parse();
const options = program.opts<{ only?: SectionName[]; rounds: number; roundMs: number }>();

const watchdog = setTimeout(() => {
  console.error(`cache bench: still running after ${RUN_LIMIT_MS / 1000} s, stopped`);
  process.exit(2);
}, RUN_LIMIT_MS);
watchdog.unref();

const redis = openBenchRedis();
const prefix = benchPrefix("cache");
const targets = new TargetLog();
const context: BenchContext = {
  redis,
  url: BENCH_REDIS_URL,
  prefix,
  makeOurCache,
  targets,
  roundMs: options.roundMs,
  rounds: options.rounds,
  print: (line = "") => console.log(line),
};
const started = performance.now();
try {
  const info = await redis.info("server");
  const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown";
  context.print(`## Cache benchmark, ${new Date().toISOString()}`);
  context.print();
  context.print(`command: npx tsx bench/cache/run.ts ${process.argv.slice(2).join(" ")}`.trimEnd());
  context.print(`code: commit ${gitCommit()}`);
  context.print(
    `machine: ${os.cpus().length} x ${os.cpus()[0]?.model.trim() ?? "cpu"}, node ${process.version}, ` +
      `redis ${redisVersion} at ${BENCH_REDIS_URL}; load average ${os.loadavg()[0]!.toFixed(2)}`,
  );
  context.print(
    `throughput: ${options.rounds} interleaved rounds of ${options.roundMs} ms per contender (order rotating each round) ` +
      "after 2,000 warm-up calls and 2 warm-up rounds; calls/s are medians, ratios are medians of per-round ratios",
  );
  context.print();
  for (const name of options.only ?? (Object.keys(SECTIONS) as SectionName[])) await SECTIONS[name](context);

  context.print("### Targets");
  context.print();
  context.print(
    formatTable(
      ["target", "measured", "result", "note"],
      targets.results.map((result) => [result.target, result.measured, passLabel(result.pass), result.note ?? ""]),
    ),
  );
  context.print();
  const failed = targets.results.filter((result) => !result.pass).length;
  context.print(
    `${targets.results.length - failed} targets passed, ${failed} failed, in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  process.exitCode = failed === 0 ? 0 : 1;
} finally {
  await deleteByPrefix(redis, prefix);
  redis.disconnect();
  clearTimeout(watchdog);
}

/** The checked-out commit (and whether the cache's source differs from it), to trace a result to its code. */
function gitCommit(): string {
  const git = (...args: string[]): string =>
    execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const dirty = git("status", "--porcelain", "--", "backend/src/cache", "bench/cache", "bench/lib") !== "";
    return `${git("rev-parse", "--short", "HEAD")}${dirty ? " + uncommitted changes in backend/src/cache or the bench" : ""}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

function parseSections(value: string): SectionName[] {
  const names = value.split(",").map((name) => name.trim());
  for (const name of names) {
    if (!(name in SECTIONS)) throw new InvalidArgumentError(`unknown section "${name}"`);
  }
  return names as SectionName[];
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError("expected a positive integer");
  return parsed;
}
