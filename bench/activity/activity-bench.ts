/**
 * `npm run bench:activity`: the activity recorder's throughput against the raw pipelined INCR limit measured in the
 * same run on the same Redis, and the latency of a 30-day timeline and a top-10 leaderboard (with a bare PING's, the
 * floor the machine allows, measured alongside). Every recorder round checks that Redis holds what it recorded. Redis: BENCH_REDIS_URL
 * (default logical db 13; use your own db on a shared machine). Every key it writes is deleted at the end.
 */
import { loadavg } from "node:os";
import { ACTIVITY_NAMESPACE, activityKeys } from "../../backend/src/activity/activity-keys.ts";
import type { ActivityMetric } from "../../backend/src/activity/activity-metrics.ts";
import { ActivityReader } from "../../backend/src/activity/activity-reader.ts";
import { ActivityRecorder } from "../../backend/src/activity/activity-recorder.ts";
import { bucketStart, labelOf } from "../../backend/src/activity/time-buckets.ts";
import { createCache } from "../../backend/src/cache/index.ts";
import { createLogger } from "../../backend/src/logging/logger.ts";
import { BENCH_REDIS_URL, benchPrefix, deleteByPrefix, openBenchRedis } from "../lib/bench-redis.ts";
import { median, percentile } from "../lib/measure.ts";
import { formatMs, formatRate, formatRatio, formatTable } from "../lib/table.ts";

const BATCH = 2_000; // an ingestion batch (INGEST_BATCH_SIZE)
const ROUNDS = 7;
const FLUSH_EVERY = 5;
const ROUND_MS = 1_000;
const GUILDS = 10;
const USERS_PER_GUILD = 1_000;
const CHANNELS_PER_GUILD = 20;
const DAY_MS = 86_400_000;

const prefix = benchPrefix("activity");
const redis = openBenchRedis(BENCH_REDIS_URL, 2_000);
const logger = createLogger({ level: "warn" });
const cache = createCache({ redis, prefix, logger, breaker: { failureThreshold: 1_000 } });
const structures = cache.structures(ACTIVITY_NAMESPACE);
/** The guilds of one round: each round writes its own keys, so its result can be checked on its own. */
const guildsOf = (round: number) =>
  Array.from({ length: GUILDS }, (_, g) => String(100_000_000_000_000_000n + BigInt(round * 1_000 + g)));
let roundsRun = 0;

/** Deterministic pseudo-random numbers. */
let seed = 7;
const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
/** A user id drawn from a Zipf-like distribution (a few members write most messages, as in real guilds), or uniformly. */
const userOf = (skewed: boolean) =>
  String(1 + (skewed ? Math.floor(USERS_PER_GUILD * random() ** 3) : Math.floor(USERS_PER_GUILD * random())));

function batchOf(skewed: boolean, guilds: string[], now: Date): ActivityMetric[] {
  return Array.from({ length: BATCH }, (_, i) => ({
    type: i % 4 === 3 ? "typing" : "messages",
    guildId: guilds[Math.floor(random() * GUILDS)]!,
    userId: userOf(skewed),
    channelId: String(1 + Math.floor(random() * CHANNELS_PER_GUILD)),
    timestamp: now,
  }));
}

/**
 * Metrics per second through recordMetrics + flush: batches of 2,000 (an ingestion batch) with one pipelined flush
 * per FLUSH_EVERY batches (10,000 metrics: what the 200 ms flush timer gathers at 50,000 metrics/s). The clock stops
 * when the last flush resolved, so every metric counted is in Redis; `verifyRound` then checks that it is.
 */
async function recorderRound(skewed: boolean): Promise<number> {
  const recorder = new ActivityRecorder({ structures, logger, flushIntervalMs: 60_000, maxPendingMetrics: 1_000_000 });
  const guilds = guildsOf(roundsRun++);
  const now = new Date();
  const batches = Array.from({ length: 8 }, () => batchOf(skewed, guilds, now));
  let metrics = 0;
  const started = performance.now();
  while (performance.now() - started < ROUND_MS) {
    for (let i = 0; i < FLUSH_EVERY; i += 1) {
      recorder.recordMetrics(batches[(metrics / BATCH) % batches.length]!);
      metrics += BATCH;
    }
    await recorder.flush();
  }
  const rate = (metrics * 1000) / (performance.now() - started);
  if (recorder.stats().dropped > 0) throw new Error(`recorder dropped ${recorder.stats().dropped} metrics`);
  await recorder.close();
  await verifyRound(guilds, batches, metrics / BATCH, now);
  return rate;
}

/**
 * Throws unless Redis holds exactly what a round recorded: per guild, the month counters of messages and typing and
 * the sums of the day leaderboards of users, channels and typers equal the metrics sent.
 */
async function verifyRound(
  guilds: string[],
  batches: ActivityMetric[][],
  batchesSent: number,
  at: Date,
): Promise<void> {
  const expected = new Map<string, number>();
  for (let b = 0; b < batchesSent; b += 1) {
    for (const metric of batches[b % batches.length]!)
      expected.set(`${metric.guildId}|${metric.type}`, (expected.get(`${metric.guildId}|${metric.type}`) ?? 0) + 1);
  }
  const month = labelOf("month", bucketStart("month", at.getTime()));
  const day = labelOf("day", bucketStart("day", at.getTime()));
  for (const guildId of guilds) {
    const messages = expected.get(`${guildId}|messages`) ?? 0;
    const typing = expected.get(`${guildId}|typing`) ?? 0;
    const counted = await structures.mget([
      activityKeys.count(guildId, "messages", "month", month),
      activityKeys.count(guildId, "typing", "month", month),
    ]);
    const boardSum = async (board: "users" | "channels" | "typers") => {
      const flat = await redis.zrange(
        structures.key(activityKeys.leaderboard(guildId, board, "day", day)),
        "0",
        "-1",
        "WITHSCORES",
      );
      return flat.reduce((sum, value, i) => (i % 2 === 1 ? sum + Number(value) : sum), 0);
    };
    const found = [
      Number(counted[0] ?? 0),
      Number(counted[1] ?? 0),
      await boardSum("users"),
      await boardSum("channels"),
      await boardSum("typers"),
    ];
    const wanted = [messages, typing, messages, messages, typing];
    if (found.join() !== wanted.join())
      throw new Error(
        `guild ${guildId}: Redis holds ${found.join("/")}, recorded ${wanted.join("/")} (messages, typing, users, channels, typers)`,
      );
  }
}

/** The limit: raw INCRs per second in pipelines of 2,000, awaited one after another, on the same connection. */
async function rawIncrRound(): Promise<number> {
  const keys = Array.from({ length: BATCH }, (_, i) => `${prefix}:raw:${i}`);
  let commands = 0;
  const started = performance.now();
  while (performance.now() - started < ROUND_MS) {
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.incr(key);
    await pipeline.exec();
    commands += BATCH;
  }
  return (commands * 1000) / (performance.now() - started);
}

/**
 * Latencies (ms) of each of `calls`, `samples` rounds, the calls interleaved in each round so a slow spell of the
 * shared machine hits all of them alike.
 */
async function interleavedLatencies(calls: (() => Promise<unknown>)[], samples: number): Promise<number[][]> {
  const times = calls.map(() => [] as number[]);
  for (let i = 0; i < samples; i += 1) {
    for (const [c, call] of calls.entries()) {
      const started = performance.now();
      await call();
      times[c]!.push(performance.now() - started);
    }
  }
  return times;
}

async function main(): Promise<void> {
  await redis.ping();
  const load = loadavg()
    .map((value) => value.toFixed(2))
    .join(", ");
  process.stdout.write(
    `Activity benchmark, ${new Date().toISOString()}, load average ${load}, Redis ${BENCH_REDIS_URL}\n\n`,
  );
  const raw: number[] = [];
  const skewed: number[] = [];
  const uniform: number[] = [];
  await rawIncrRound();
  await recorderRound(true);
  for (let round = 0; round < ROUNDS; round += 1) {
    // Interleaved, so a slow spell of the shared machine hits every contender alike.
    raw.push(await rawIncrRound());
    skewed.push(await recorderRound(true));
    uniform.push(await recorderRound(false));
  }
  const limit = median(raw);

  // 30 days of hourly counters and a busy day leaderboard for one guild, then read them.
  const guildId = guildsOf(999)[0]!;
  const now = Date.now();
  const fill = new ActivityRecorder({ structures, logger, flushIntervalMs: 60_000, maxPendingMetrics: 10_000_000 });
  for (let hour = 0; hour < 30 * 24; hour += 1) {
    fill.recordMetric({
      type: "messages",
      guildId,
      userId: userOf(true),
      channelId: "1",
      value: 1 + hour,
      timestamp: new Date(now - hour * 3_600_000),
    });
  }
  for (let i = 0; i < 50_000; i += 1)
    fill.recordMetric({
      type: "messages",
      guildId,
      userId: String(i % 5_000),
      channelId: "1",
      timestamp: new Date(now),
    });
  await fill.close();
  const reader = new ActivityReader(structures);
  const [timeline = [], board = [], ping = []] = await interleavedLatencies(
    [
      () => reader.timeline(guildId, "messages", "hour", now - 30 * DAY_MS, now),
      () => reader.leaderboard(guildId, "users", "day", now, 10),
      () => redis.ping(),
    ],
    2_000,
  );
  const check = await reader.timeline(guildId, "messages", "hour", now - 30 * DAY_MS, now);

  const rows = [
    ["limit: raw pipelined INCR (2,000 per pipeline)", formatRate(limit), "1.000x", ""],
    [
      "recordMetrics + flush, Zipf-like users (10 guilds x 1,000 users)",
      formatRate(median(skewed)),
      formatRatio(median(skewed) / limit),
      median(skewed) >= 0.5 * limit && median(skewed) >= 50_000 ? "PASS" : "FAIL",
    ],
    [
      "recordMetrics + flush, uniform users (worst case: few repeats per flush)",
      formatRate(median(uniform)),
      formatRatio(median(uniform) / limit),
      "(reported)",
    ],
  ];
  process.stdout.write(
    `${formatTable(["recording (metrics or commands per second, median of 7 rounds of 1 s)", "rate", "vs limit", "target >= 0.5x and >= 50,000/s"], rows)}\n\n`,
  );
  const latencyRows = [
    [
      `30-day timeline, hourly (${check.points.length} buckets: 2 month hashes, one script call)`,
      formatMs(median(timeline)),
      formatMs(percentile(timeline, 99)),
      percentile(timeline, 99) < 5 ? "PASS" : "FAIL",
    ],
    [
      "top-10 leaderboard of a day (5,000 members, one script call)",
      formatMs(median(board)),
      formatMs(percentile(board, 99)),
      percentile(board, 99) < 5 ? "PASS" : "FAIL",
    ],
    [
      "floor: raw ioredis PING on the same connection (the machine's own noise)",
      formatMs(median(ping)),
      formatMs(percentile(ping, 99)),
      "(reported)",
    ],
  ];
  process.stdout.write(
    `${formatTable(["read (2,000 sequential calls of each, interleaved)", "p50", "p99", "target p99 < 5 ms"], latencyRows)}\n`,
  );
}

try {
  await main();
} finally {
  await cache.close();
  await deleteByPrefix(redis, prefix);
  redis.disconnect();
}
