import { execSync } from "node:child_process";
import { loadavg } from "node:os";
import { Command, InvalidArgumentError } from "commander";
import { assertLoopback } from "../lib/bench-redis.ts";
import { runBusyGuildBench, type BusyGuildOptions } from "./busy-guild-bench.ts";
import { printReport } from "./report.ts";

/**
 * Busy guild benchmark (issue 4): 200 messages/s (plus typing, presence and role changes) through a fake Discord
 * gateway into the real service's discord.js bot, while 50 dashboard requests/s read the six analytics over HTTP.
 * Prints the hit rate, the freshness of every response against a ledger of durable rows, invalidations and
 * latencies against a static JSON endpoint measured in the same run, with PASS/FAIL per target.
 *
 *   npx tsx bench/busy-guild/run.ts [--seconds 30] [--coalesce-ms 1000]
 *
 * Env: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/spywatcher_bench_busy, created and
 * migrated if missing), BENCH_REDIS_URL (default redis://127.0.0.1:6379/13); CACHE_* and INGEST_* variables are
 * passed to the service. Exit code 0 when every target passed, 1 when one failed, 2 on a watchdog stop.
 */
const positive = (value: string): number => {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError("must be a positive number");
  return number;
};
const nonNegative = (value: string): number => {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) throw new InvalidArgumentError("must be a number >= 0");
  return number;
};

const cli = new Command("busy-guild")
  .description("busy guild: messages through the real bot while dashboards read the six analytics")
  .option("--seconds <s>", "length of the measured run", positive, 30)
  .option("--messages-per-second <n>", "MESSAGE_CREATE dispatches per second", nonNegative, 200)
  .option("--typing-per-second <n>", "TYPING_START dispatches per second", nonNegative, 20)
  .option(
    "--presence-per-second <n>",
    "PRESENCE_UPDATE dispatches per second (moves lurkers and clients)",
    nonNegative,
    0,
  )
  .option(
    "--role-changes-per-second <n>",
    "GUILD_MEMBER_UPDATE (one role toggled) dispatches per second (moves roles)",
    nonNegative,
    0,
  )
  .option("--requests-per-second <n>", "analytics requests per second, round-robin over the six", positive, 50)
  .option("--static-per-second <n>", "static JSON endpoint requests per second (the limit)", nonNegative, 10)
  .option("--coalesce-ms <ms>", "INVALIDATION_COALESCE_MS of the service", positive, 1000)
  .parse();
const flags = cli.opts<{
  seconds: number;
  messagesPerSecond: number;
  typingPerSecond: number;
  presencePerSecond: number;
  roleChangesPerSecond: number;
  requestsPerSecond: number;
  staticPerSecond: number;
  coalesceMs: number;
}>();

const databaseUrl = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/spywatcher_bench_busy";
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/13";
assertLoopback(redisUrl);
if (!["127.0.0.1", "localhost"].includes(new URL(databaseUrl).hostname))
  throw new Error("BENCH_DATABASE_URL must be on loopback");

// Setup, warm-up and drain take about 10 s; a run far beyond that is stuck: exit instead of hanging.
const watchdog = setTimeout(
  () => {
    console.error(`busy-guild: watchdog: the run did not finish within ${flags.seconds + 120} s`);
    process.exit(2);
  },
  (flags.seconds + 120) * 1000,
);
watchdog.unref();

const serviceEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    (entry): entry is [string, string] => /^(CACHE|INGEST)_/.test(entry[0]) && entry[1] !== undefined,
  ),
);
const options: BusyGuildOptions = {
  databaseUrl,
  redisUrl,
  seconds: flags.seconds,
  rates: {
    message: flags.messagesPerSecond,
    typing: flags.typingPerSecond,
    presence: flags.presencePerSecond,
    roleChange: flags.roleChangesPerSecond,
  },
  requestsPerSecond: flags.requestsPerSecond,
  staticRequestsPerSecond: flags.staticPerSecond,
  coalesceMs: flags.coalesceMs,
  serviceEnv,
};

let commit = "unknown";
try {
  commit = execSync("git rev-parse --short HEAD", { stdio: ["ignore", "pipe", "ignore"] })
    .toString()
    .trim();
} catch {
  // Not a git checkout: the report says "unknown".
}
console.log(
  `busy guild bench: ${new Date().toISOString()}, commit ${commit}, ${flags.seconds} s, coalescing ${flags.coalesceMs} ms, ` +
    `load average ${loadavg()
      .map((load) => load.toFixed(2))
      .join(" ")} at start`,
);
if (Object.keys(serviceEnv).length > 0) console.log(`service env: ${JSON.stringify(serviceEnv)}`);

const run = await runBusyGuildBench(options);
const allPassed = printReport(run, options);
clearTimeout(watchdog);
process.exitCode = allPassed ? 0 : 1;
