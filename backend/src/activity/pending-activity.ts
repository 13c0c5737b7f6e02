import type { StructureBatch } from "../cache/structures/structure-batch.ts";
import type { IngestEvent } from "../ingest/event-records.ts";
import { activityKeys } from "./activity-keys.ts";
import { ACTIVE_DAYS_RETENTION_MS, EVENTS_PER_SECOND_RETENTION_MS } from "./activity-horizons.ts";
import {
  ACTIVE_DAY_METRICS,
  LEADERBOARDS,
  LEADERBOARD_NAMES,
  type ActivityMetric,
  type ActivityMetricType,
  type LeaderboardName,
} from "./activity-metrics.ts";
import { GuildWriteScript } from "./guild-write-script.ts";
import { PendingLiveState } from "./pending-live-state.ts";
import { BucketPlans } from "./bucket-plans.ts";
import { bucketStart, dayNumber } from "./time-buckets.ts";

/** What a writer already sent in this process, so a flush does not send it again. */
export interface FlushMemo {
  /** True when the key's expiry was already set (a counter's or board's expiry is fixed by its bucket). */
  expirySent(key: string): boolean;
  /** True when the user-day is already in the user's active days (`key` is the user's active-days key). */
  streakDayKnown(key: string, day: number): boolean;
}

/** What a written flush adds to the memo (remembered only once the flush succeeded). */
export interface FlushMarks {
  expiryKeys: string[];
  /** `${activeDaysKey}|${day}` */
  streakDays: string[];
}

/** One guild's metrics since the last flush. */
interface GuildAggregate {
  /** metric -> minute start (epoch ms) -> amount. */
  counts: Map<ActivityMetricType, Map<number, number>>;
  /** board -> UTC day number -> member -> amount. */
  boards: Map<LeaderboardName, Map<number, Map<string, number>>>;
  /** userId -> UTC day numbers with a message or typing event. */
  activeDays: Map<string, Set<number>>;
}

/** The leaderboards each metric feeds, and the metric field that names the member. */
const BOARDS_FED_BY = new Map<ActivityMetricType, { board: LeaderboardName; member: "userId" | "channelId" }[]>();
for (const board of LEADERBOARD_NAMES) {
  const { metric, member } = LEADERBOARDS[board];
  BOARDS_FED_BY.set(metric, [...(BOARDS_FED_BY.get(metric) ?? []), { board, member }]);
}

/**
 * The activity recorded since the last flush, aggregated in process: N messages of one guild in one minute are one
 * amount (which becomes one HINCRBY per minute and hour field and one INCRBY per day, week and month), N messages
 * of one member one amount per day (one ZINCRBY on each of the day, week and month boards). A flush sends each
 * guild's aggregate as one script call (or a few, see GuildWriteScript) and the rest as pipelined commands, so Redis
 * work grows with distinct buckets and members, and Node's with events only through Map updates.
 *
 * `keepBucketsEndingAfter` (a rebuild's replay) writes only buckets and boards that end after that instant.
 */
export class PendingActivity {
  /** Metrics added. */
  metrics = 0;
  private readonly byGuild = new Map<string, GuildAggregate>();
  private readonly system = new Map<string, { by: number; expiresAt: number }>();
  private readonly live = new PendingLiveState();

  constructor(private readonly keepBucketsEndingAfter = Number.NEGATIVE_INFINITY) {}

  /** Guilds whose counters or live state changed (for the throttled WebSocket push). */
  get guilds(): Set<string> {
    return new Set([...this.byGuild.keys(), ...this.live.guilds]);
  }

  /** Adds one metric to its guild's aggregate, and to the system-wide rate of `nowSecond` unless `replay`. */
  addMetric(metric: ActivityMetric, replay = false, nowSecond = Math.floor(Date.now() / 1000)): void {
    const at = metric.timestamp.getTime();
    const by = metric.value ?? 1;
    const guild = this.guildOf(metric.guildId);
    this.metrics += 1;
    addTo(mapIn(guild.counts, metric.type), bucketStart("minute", at), by);
    const boards = BOARDS_FED_BY.get(metric.type);
    const day = dayNumber(at);
    if (boards) {
      for (const { board, member: field } of boards) {
        const member = metric[field];
        if (member) addTo(mapIn(mapIn(guild.boards, board), day), member, by);
      }
    }
    if (metric.userId && ACTIVE_DAY_METRICS.has(metric.type)) {
      let days = guild.activeDays.get(metric.userId);
      if (!days) guild.activeDays.set(metric.userId, (days = new Set()));
      days.add(day);
    }
    if (!replay)
      this.increment(
        activityKeys.eventsPerSecond(metric.type, nowSecond),
        by,
        (nowSecond + 1) * 1000 + EVENTS_PER_SECOND_RETENTION_MS,
      );
  }

  /** Adds the live state an event changes (online, typing, joins); its metric is added apart. */
  addLiveState(event: IngestEvent, typingTtlMs: number): void {
    this.live.add(event, typingTtlMs);
  }

  /** Adds `by` to a system-wide counter key that expires at `expiresAt`. */
  increment(key: string, by: number, expiresAt: number): void {
    const known = this.system.get(key);
    if (known) known.by += by;
    else this.system.set(key, { by, expiresAt });
  }

  /** True when nothing is pending. */
  isEmpty(): boolean {
    return this.byGuild.size === 0 && this.system.size === 0 && this.live.isEmpty();
  }

  /** Queues every pending change on `batch`; returns what to remember once the batch succeeded. */
  writeTo(batch: StructureBatch, memo: FlushMemo): FlushMarks {
    const marks: FlushMarks = { expiryKeys: [], streakDays: [] };
    const plans = new BucketPlans();
    for (const [guildId, guild] of this.byGuild)
      this.writeGuild(new GuildWriteScript(batch), guildId, guild, memo, marks, plans);
    for (const [key, { by, expiresAt }] of this.system) {
      batch.incrby(key, by);
      if (!memo.expirySent(key)) {
        batch.expireAt(key, expiresAt);
        marks.expiryKeys.push(key);
      }
    }
    this.live.writeTo(batch);
    return marks;
  }

  private writeGuild(
    script: GuildWriteScript,
    guildId: string,
    guild: GuildAggregate,
    memo: FlushMemo,
    marks: FlushMarks,
    plans: BucketPlans,
  ): void {
    const expiries = new Map<string, number>();
    for (const [metric, minutes] of guild.counts) {
      // Sum per slot first: the minutes of one flush fall in a few hours, days, weeks and months.
      const slots = new Map<string, { key: string; field: string | undefined; by: number }>();
      for (const [minute, by] of minutes) {
        for (const bucket of plans.ofMinute(minute)) {
          if (bucket.end <= this.keepBucketsEndingAfter) continue;
          const key = bucket.key(guildId, metric);
          const id = bucket.field === undefined ? key : `${key}\n${bucket.field}`;
          const slot = slots.get(id);
          if (slot) slot.by += by;
          else slots.set(id, { key, field: bucket.field, by });
          expiries.set(key, bucket.keyExpiresAt);
        }
      }
      for (const { key, field, by } of slots.values()) {
        if (field === undefined) script.incrby(key, by);
        else script.hincrby(key, field, by);
      }
    }
    for (const [board, days] of guild.boards) {
      for (const [day, members] of days) {
        const keys: string[] = [];
        for (const period of plans.ofDay(day)) {
          if (period.end <= this.keepBucketsEndingAfter) continue;
          const key = period.key(guildId, board);
          keys.push(key);
          expiries.set(key, period.keyExpiresAt);
        }
        script.zincrby(keys, members);
      }
    }
    for (const [key, atMs] of expiries) {
      if (memo.expirySent(key)) continue;
      script.expireAt(key, atMs);
      marks.expiryKeys.push(key);
    }
    for (const [userId, days] of guild.activeDays) {
      const key = activityKeys.activeDays(guildId, userId);
      for (const day of days) {
        if (memo.streakDayKnown(key, day)) continue;
        script.activeDay(key, day, ACTIVE_DAYS_RETENTION_MS);
        marks.streakDays.push(`${key}|${day}`);
      }
    }
    script.finish();
  }

  private guildOf(guildId: string): GuildAggregate {
    let guild = this.byGuild.get(guildId);
    if (!guild) this.byGuild.set(guildId, (guild = { counts: new Map(), boards: new Map(), activeDays: new Map() }));
    return guild;
  }
}

function mapIn<K, V extends Map<unknown, unknown>>(map: Map<K, V>, key: K): V {
  let inner = map.get(key);
  if (!inner) map.set(key, (inner = new Map() as V));
  return inner;
}

function addTo<K>(map: Map<K, number>, key: K, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}
