import type { CacheStructures } from "../cache/structures/data-structures.ts";
import type { Logger } from "../logging/logger.ts";
import { parseCounterHashKey, parseCountKey, parseLeaderboardKey } from "./activity-keys.ts";
import {
  ACTIVE_DAYS_RETENTION_MS,
  EVENTS_PER_SECOND_RETENTION_MS,
  LEADERBOARD_RETENTION_MS,
  ONLINE_STATE_TTL_MS,
} from "./activity-horizons.ts";
import { LEADERBOARD_PERIODS, type LeaderboardPeriod } from "./activity-metrics.ts";
import { containerExpiresAt, containerStartOf, fieldStart, HASHED_BUCKET_MS } from "./counter-slots.ts";
import {
  BUCKET_RETENTION_MS,
  bucketExpiresAt,
  dayNumber,
  GRANULARITIES,
  nextBucketStart,
  parseLabel,
  type Granularity,
} from "./time-buckets.ts";

/** What one retention run did (or, dry, would do). */
export interface RetentionReport {
  dryRun: boolean;
  /** Keys examined in this run. */
  scanned: number;
  /** Counters and leaderboards past their horizon, deleted. */
  deleted: number;
  /** Keys found without a TTL (a lost expiry), given the one their bucket implies. */
  expiryRepaired: number;
  /** Active days older than 400 days removed from users' streak sets. */
  daysTrimmed: number;
  /** Minute and hour counters past their horizon removed from the hashes that hold them (the hash lives on for newer ones). */
  bucketsTrimmed: number;
  /** True when the scan reached the end of the keyspace; false when the run stopped at `maxKeys` (the next run goes on from there). */
  complete: boolean;
}

/** Options of the retention cleanup. */
export interface ActivityRetentionOptions {
  structures: CacheStructures;
  logger: Logger;
  /** Most keys one run examines (default 10,000): a run stays short, the next one goes on where it stopped. */
  maxKeysPerRun?: number;
}

/**
 * Removes activity data past its horizon, bounded per run: SCAN (never KEYS) over the activity namespace, on every
 * master. Counters and leaderboards normally expire by their own TTL (set at their first write); this catches keys
 * whose expiry was lost (a key deleted and written again while this process remembered its expiry as sent: a
 * rebuild, a retention run), removes minute and hour counters past their horizon from the day or month hash holding
 * them, and trims old days from streak sets, which are refreshed on every write and so never expire while a user
 * stays active.
 */
export class ActivityRetention {
  private readonly structures: CacheStructures;
  private readonly logger: Logger;
  private readonly maxKeysPerRun: number;
  private scan: AsyncGenerator<string[]> | undefined;
  private running: Promise<RetentionReport> | undefined;

  constructor(options: ActivityRetentionOptions) {
    this.structures = options.structures;
    this.logger = options.logger;
    this.maxKeysPerRun = options.maxKeysPerRun ?? 10_000;
  }

  /** One bounded run as of `nowMs`; `dryRun` counts without changing anything. Runs do not overlap. */
  run(options: { nowMs?: number; dryRun?: boolean } = {}): Promise<RetentionReport> {
    this.running ??= this.runOnce(options.nowMs ?? Date.now(), options.dryRun ?? false).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Runs until the whole keyspace was examined once (the CLI's `activity cleanup`). */
  async runToEnd(options: { nowMs?: number; dryRun?: boolean } = {}): Promise<RetentionReport> {
    const total = emptyReport(options.dryRun ?? false);
    this.scan = undefined;
    while (!total.complete) {
      const report = await this.run(options);
      total.scanned += report.scanned;
      total.deleted += report.deleted;
      total.expiryRepaired += report.expiryRepaired;
      total.daysTrimmed += report.daysTrimmed;
      total.bucketsTrimmed += report.bucketsTrimmed;
      total.complete = report.complete;
    }
    return total;
  }

  private async runOnce(nowMs: number, dryRun: boolean): Promise<RetentionReport> {
    const report = emptyReport(dryRun);
    this.scan ??= this.structures.scan("*", 500);
    while (report.scanned < this.maxKeysPerRun) {
      const next = await this.scan.next();
      if (next.done) {
        this.scan = undefined;
        report.complete = true;
        break;
      }
      report.scanned += next.value.length;
      await Promise.all(next.value.map((key) => this.examine(key, nowMs, dryRun, report)));
    }
    this.logger.debug(report, "activity retention run");
    return report;
  }

  private async examine(key: string, nowMs: number, dryRun: boolean, report: RetentionReport): Promise<void> {
    const full = this.structures.key(key);
    const horizon = horizonOf(key);
    // Keys are examined concurrently: each count is awaited first and added after (`x += await` would lose updates).
    if (key.includes("}:days:")) {
      const oldest = dayNumber(nowMs - ACTIVE_DAYS_RETENTION_MS);
      const trimmed = await this.structures.call(
        "retention",
        (c) => (dryRun ? c.zcount(full, "-inf", `(${oldest}`) : c.zremrangebyscore(full, "-inf", `(${oldest}`)),
        full,
      );
      report.daysTrimmed += trimmed;
      return;
    }
    if (horizon !== undefined && horizon <= nowMs) {
      const deleted = dryRun ? 1 : await this.structures.call("retention", (c) => c.unlink(full), full);
      report.deleted += deleted;
      return;
    }
    const bucketsTrimmed = await this.trimHashedBuckets(key, full, nowMs, dryRun);
    report.bucketsTrimmed += bucketsTrimmed;
    const ttl = await this.structures.call("retention", (c) => c.pttl(full), full);
    if (ttl !== -1) return;
    report.expiryRepaired += 1;
    if (dryRun) return;
    await this.structures.call(
      "retention",
      (c) => (horizon !== undefined ? c.pexpireat(full, horizon) : c.pexpire(full, ONLINE_STATE_TTL_MS)),
      full,
    );
  }

  /** Removes the fields past their horizon from a minute or hour counter hash; resolves with how many (0 for other keys). */
  private async trimHashedBuckets(key: string, full: string, nowMs: number, dryRun: boolean): Promise<number> {
    const hash = parseCounterHashKey(key);
    const containerStart = hash && containerStartOf(hash.granularity, hash.containerLabel);
    if (!hash || containerStart === undefined) return 0;
    const { granularity } = hash;
    // A field is past its horizon when its bucket ended more than the retention ago; none is before the first one is.
    const lastEndKept = nowMs - BUCKET_RETENTION_MS[granularity];
    if (containerStart + HASHED_BUCKET_MS[granularity] > lastEndKept) return 0;
    const fields = await this.structures.call("retention", (c) => c.hkeys(full), full);
    const past = fields.filter((field) => {
      const start = fieldStart(granularity, containerStart, field);
      return start !== undefined && start + HASHED_BUCKET_MS[granularity] <= lastEndKept;
    });
    if (past.length === 0 || dryRun) return past.length;
    return this.structures.call("retention", (c) => c.hdel(full, ...past), full);
  }
}

/** When a counter or leaderboard key stops being kept, from the bucket its label names; undefined for other keys. */
export function horizonOf(key: string): number | undefined {
  const hash = parseCounterHashKey(key);
  if (hash) {
    const start = containerStartOf(hash.granularity, hash.containerLabel);
    return start === undefined ? undefined : containerExpiresAt(hash.granularity, start);
  }
  const count = parseCountKey(key);
  if (count && (GRANULARITIES as readonly string[]).includes(count.granularity)) {
    const start = parseLabel(count.granularity as Granularity, count.label);
    return start === undefined ? undefined : bucketExpiresAt(count.granularity as Granularity, start);
  }
  const board = parseLeaderboardKey(key);
  if (board && (LEADERBOARD_PERIODS as readonly string[]).includes(board.period)) {
    const period = board.period as LeaderboardPeriod;
    const start = parseLabel(period, board.label);
    return start === undefined ? undefined : nextBucketStart(period, start) + LEADERBOARD_RETENTION_MS[period];
  }
  const eps = /^\{system\}:eps:[a-z]+:(\d+)$/.exec(key);
  if (eps) return (Number(eps[1]) + 1) * 1000 + EVENTS_PER_SECOND_RETENTION_MS;
  const failures = /^\{system\}:ingest:[a-zA-Z]+:(.+)$/.exec(key);
  if (failures) {
    const start = parseLabel("minute", failures[1]!);
    return start === undefined ? undefined : bucketExpiresAt("minute", start);
  }
  return undefined;
}

/** A report of nothing done yet. */
function emptyReport(dryRun: boolean): RetentionReport {
  return { dryRun, scanned: 0, deleted: 0, expiryRepaired: 0, daysTrimmed: 0, bucketsTrimmed: 0, complete: false };
}
