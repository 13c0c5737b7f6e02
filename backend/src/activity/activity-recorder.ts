import type { CacheStructures } from "../cache/structures/data-structures.ts";
import type { IngestEvent } from "../ingest/event-records.ts";
import type { IngestStats } from "../ingest/ingestion-writer-options.ts";
import type { Logger } from "../logging/logger.ts";
import { activityKeys, INGEST_FAILURE_KINDS, type IngestFailureKind } from "./activity-keys.ts";
import { metricOfEvent, type ActivityMetric } from "./activity-metrics.ts";
import { PendingActivity } from "./pending-activity.ts";
import { bucketExpiresAt, bucketStart, labelOf } from "./time-buckets.ts";

/** Defaults of the activity recorder and live push; the ACTIVITY_* defaults of config/config.ts are these. */
export const ACTIVITY_DEFAULTS = { flushIntervalMs: 200, typingTtlMs: 10_000, livePushIntervalMs: 1_000 } as const;

/** Options of the activity recorder; every field but `structures` and `logger` has a default. */
export interface ActivityRecorderOptions {
  /** The cache's `activity` structure namespace (keys, breaker, timeouts). */
  structures: CacheStructures;
  logger: Logger;
  /** Longest time a recorded metric waits before its flush (ACTIVITY_FLUSH_INTERVAL_MS, default 200 ms). */
  flushIntervalMs?: number;
  /** Most metrics held while a flush is in flight; beyond it new ones are dropped and counted (default 200,000). */
  maxPendingMetrics?: number;
  /** "Typing now" lasts this long after a typing event (ACTIVITY_TYPING_TTL_MS, default 10,000 ms, as Discord's indicator). */
  typingTtlMs?: number;
  /** The ingestion writer's counters: their growth is recorded as system-wide ingestion failures at each flush. */
  ingestStats?: () => Pick<IngestStats, IngestFailureKind> | undefined;
  /** Called after each successful flush with the guilds it changed (the live push uses it). */
  onFlushed?: (guildIds: string[]) => void;
  /** A rebuild's replay: only buckets and leaderboards ending after this instant (epoch ms) are written (default: all). */
  keepBucketsEndingAfter?: number;
}

/** Counters of the recorder since it started. */
export interface ActivityRecorderStats {
  /** Metrics accepted. */
  recorded: number;
  /** Metrics written to Redis. */
  flushed: number;
  /** Metrics lost: Redis down or slow (failed flush) or too many pending. Rebuild from PostgreSQL restores them. */
  dropped: number;
  /** Successful flushes. */
  flushes: number;
  /** Failed flushes. */
  failedFlushes: number;
  /** Metrics waiting for the next flush. */
  pending: number;
}

const EXPIRY_MEMO_SIZE = 100_000;
const LOG_EVERY_MS = 1_000;

/**
 * Records activity metrics into Redis without ever holding up its caller: `recordMetric(s)` and `recordEvents`
 * aggregate in memory and return at once; a timer flushes the aggregate as one pipeline through the cache's gateway:
 * one atomic script call per guild (HINCRBY, INCRBY, ZINCRBY, ZADD NX; see activity-scripts.ts) plus the
 * system-wide counters and live state (INCRBY, HSET, SADD, LPUSH...). While Redis is down or slow the metrics of a failed
 * flush are counted as dropped and logged at most once a second; `spywatcher activity rebuild` restores them.
 */
export class ActivityRecorder {
  private readonly structures: CacheStructures;
  private readonly logger: Logger;
  private readonly flushIntervalMs: number;
  private readonly maxPendingMetrics: number;
  private readonly typingTtlMs: number;
  private readonly options: ActivityRecorderOptions;
  private pending: PendingActivity;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly counters = { recorded: 0, flushed: 0, dropped: 0, flushes: 0, failedFlushes: 0 };
  private readonly expirySent = new Set<string>();
  private readonly streakDaysSent = new Set<string>();
  private lastIngestStats: Partial<Record<(typeof INGEST_FAILURE_KINDS)[number], number>> = {};
  private lastDropLog = 0;
  private droppedSinceLog = 0;

  constructor(options: ActivityRecorderOptions) {
    this.options = options;
    this.structures = options.structures;
    this.logger = options.logger;
    this.flushIntervalMs = options.flushIntervalMs ?? ACTIVITY_DEFAULTS.flushIntervalMs;
    this.maxPendingMetrics = options.maxPendingMetrics ?? 200_000;
    this.typingTtlMs = options.typingTtlMs ?? ACTIVITY_DEFAULTS.typingTtlMs;
    this.pending = this.newPending();
  }

  /** Records one metric (returns at once; written at the next flush). False when it was dropped. */
  recordMetric(metric: ActivityMetric): boolean {
    if (!this.admit(1)) return false;
    this.pending.addMetric(metric);
    this.armTimer();
    return true;
  }

  /**
   * Records many metrics (returns at once); drops are counted. `replay` (a rebuild from PostgreSQL) leaves the
   * system-wide events-per-second counters alone: those events are not happening now.
   */
  recordMetrics(metrics: readonly ActivityMetric[], options: { replay?: boolean } = {}): void {
    if (!this.admit(metrics.length)) return;
    const replay = options.replay ?? false;
    const nowSecond = Math.floor(Date.now() / 1000);
    for (const metric of metrics) this.pending.addMetric(metric, replay, nowSecond);
    this.armTimer();
  }

  /** Records stored events: their metrics and the live state they change (online, typing, joins). */
  recordEvents(events: readonly IngestEvent[]): void {
    if (!this.admit(events.length)) return;
    const nowSecond = Math.floor(Date.now() / 1000);
    for (const event of events) {
      this.pending.addMetric(metricOfEvent(event), false, nowSecond);
      this.pending.addLiveState(event, this.typingTtlMs);
    }
    this.armTimer();
  }

  /** Writes everything recorded so far; resolves when it is written or counted as dropped (never rejects). */
  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.recordIngestFailures();
    if (this.pending.isEmpty()) return;
    const batch = this.pending;
    this.pending = this.newPending();
    this.inFlight = this.write(batch).finally(() => {
      this.inFlight = undefined;
    });
    await this.inFlight;
  }

  /** Flushes and stops the timer; later metrics are dropped. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  /** A snapshot of the counters. */
  stats(): ActivityRecorderStats {
    return { ...this.counters, pending: this.pending.metrics };
  }

  private admit(metrics: number): boolean {
    if (!this.closed && this.pending.metrics + metrics <= this.maxPendingMetrics) {
      this.counters.recorded += metrics;
      return true;
    }
    this.dropped(metrics, this.closed ? "recorder closed" : "too many pending metrics (Redis slow)");
    return false;
  }

  private armTimer(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  private newPending(): PendingActivity {
    return new PendingActivity(this.options.keepBucketsEndingAfter);
  }

  private async write(batch: PendingActivity): Promise<void> {
    const commands = this.structures.batch();
    const marks = batch.writeTo(commands, {
      expirySent: (key) => this.expirySent.has(key),
      streakDayKnown: (key, day) => this.streakDaysSent.has(`${key}|${day}`),
    });
    try {
      await commands.exec();
    } catch (error) {
      this.counters.failedFlushes += 1;
      this.dropped(
        batch.metrics,
        error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error),
      );
      return;
    }
    this.counters.flushes += 1;
    this.counters.flushed += batch.metrics;
    this.remember(marks.expiryKeys);
    this.remember(marks.streakDays, this.streakDaysSent);
    const guilds = batch.guilds;
    if (guilds.size > 0) this.options.onFlushed?.([...guilds]);
  }

  private remember(keys: Iterable<string>, into = this.expirySent): void {
    for (const key of keys) {
      // Bounded: emptied when full, after which expiries are simply sent again once.
      if (into.size >= EXPIRY_MEMO_SIZE) into.clear();
      into.add(key);
    }
  }

  /** Adds the growth of the writer's failure counters since the last flush to this minute's system counters. */
  private recordIngestFailures(): void {
    const stats = this.options.ingestStats?.();
    if (!stats) return;
    const minute = bucketStart("minute", Date.now());
    for (const kind of INGEST_FAILURE_KINDS) {
      const grown = stats[kind] - (this.lastIngestStats[kind] ?? 0);
      this.lastIngestStats[kind] = stats[kind];
      if (grown > 0)
        this.pending.increment(
          activityKeys.ingestFailures(kind, labelOf("minute", minute)),
          grown,
          bucketExpiresAt("minute", minute),
        );
    }
  }

  private dropped(metrics: number, reason: string): void {
    if (metrics <= 0) return;
    this.counters.dropped += metrics;
    this.droppedSinceLog += metrics;
    const now = Date.now();
    // An outage fails every flush: one line a second with the count, not one per flush.
    if (now - this.lastDropLog >= LOG_EVERY_MS) {
      this.logger.warn(
        { dropped: this.droppedSinceLog, totalDropped: this.counters.dropped, reason },
        "activity metrics dropped (rebuild with `spywatcher activity rebuild`)",
      );
      this.lastDropLog = now;
      this.droppedSinceLog = 0;
    }
  }
}
