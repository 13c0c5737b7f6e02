import type { StructureBatch } from "../cache/structures/structure-batch.ts";
import type { IngestEvent } from "../ingest/event-records.ts";
import { activityKeys, LIVE_PLATFORMS } from "./activity-keys.ts";
import { ACTIVE_DAY_METRICS, LEADERBOARD_PERIODS, LEADERBOARDS, LEADERBOARD_NAMES, type ActivityMetric, type LeaderboardPeriod } from "./activity-metrics.ts";
import { bucketExpiresAt, bucketStart, dayNumber, GRANULARITIES, labelOf, nextBucketStart, type Granularity } from "./time-buckets.ts";

const DAY_MS = 86_400_000;
/** How long leaderboards stay after their period ends. */
export const LEADERBOARD_RETENTION_MS = { day: 35 * DAY_MS, week: 371 * DAY_MS, month: 731 * DAY_MS } as const;
/** How long a user's active days are kept (streaks look back this far). */
export const ACTIVE_DAYS_RETENTION_MS = 400 * DAY_MS;
/** Per-second system counters are kept this long. */
export const EVENTS_PER_SECOND_RETENTION_MS = 3_600_000;
/** Online state of a member not heard of again expires after this (Discord sends no presence while nothing changes). */
export const ONLINE_STATE_TTL_MS = 7 * DAY_MS;
/** Recent joins kept per guild. */
export const RECENT_JOINS = 50;
/** Recent joins expire this long after the last join. */
export const RECENT_JOINS_TTL_MS = 30 * DAY_MS;

interface Increment {
  by: number;
  expiresAt: number;
}

/**
 * The activity recorded since the last flush, aggregated in process: N messages of one guild in one minute become
 * one INCRBY per bucket, N messages of one user one ZINCRBY per leaderboard period. A flush turns it into one
 * pipelined batch (`writeTo`), so Redis work grows with distinct keys, not with events.
 */
export class PendingActivity {
  /** Metrics added. */
  metrics = 0;
  /** Guilds whose live state or counters changed (for the throttled WebSocket push). */
  readonly guilds = new Set<string>();
  private readonly counters = new Map<string, Increment>();
  private readonly scores = new Map<string, { members: Map<string, number>; expiresAt: number }>();
  private readonly activeDays = new Map<string, Set<number>>();
  private readonly online = new Map<string, { guildId: string; userId: string; status: string; platforms: string[]; at: number }>();
  private readonly typing = new Map<string, { guildId: string; channelId: string; userId: string; expiresAt: number }>();
  private readonly plans = new Map<number, MinutePlan>();
  private readonly joins: { guildId: string; userId: string; at: number; accountAgeDays: number }[] = [];

  /** Adds one metric to every bucket, leaderboard and streak it feeds, and to the system-wide rate unless `replay`. */
  addMetric(metric: ActivityMetric, replay = false): void {
    const at = metric.timestamp.getTime();
    const by = metric.value ?? 1;
    const plan = this.planOf(at);
    this.metrics += 1;
    this.guilds.add(metric.guildId);
    for (const bucket of plan.buckets) {
      this.increment(activityKeys.count(metric.guildId, metric.type, bucket.granularity, bucket.label), by, bucket.expiresAt);
    }
    for (const board of LEADERBOARD_NAMES) {
      const { metric: fedBy, member: memberField } = LEADERBOARDS[board];
      const member = metric[memberField];
      if (fedBy !== metric.type || !member) continue;
      for (const period of plan.periods) {
        this.score(activityKeys.leaderboard(metric.guildId, board, period.period, period.label), member, by, period.expiresAt);
      }
    }
    if (metric.userId && ACTIVE_DAY_METRICS.has(metric.type)) {
      const key = activityKeys.activeDays(metric.guildId, metric.userId);
      let days = this.activeDays.get(key);
      if (!days) this.activeDays.set(key, (days = new Set()));
      days.add(plan.day);
    }
    if (replay) return;
    const second = Math.floor(Date.now() / 1000);
    this.increment(activityKeys.eventsPerSecond(metric.type, second), by, (second + 1) * 1000 + EVENTS_PER_SECOND_RETENTION_MS);
  }

  /** Adds the live state an event changes (online, typing, joins); its metric is added apart. */
  addLiveState(event: IngestEvent, typingTtlMs: number): void {
    switch (event.kind) {
      case "presence": {
        const at = event.createdAt.getTime();
        const key = `${event.guildId}|${event.userId}`;
        const known = this.online.get(key);
        // The newest presence of a member in this flush wins.
        if (!known || known.at <= at) this.online.set(key, { guildId: event.guildId, userId: event.userId, status: event.status, platforms: event.platforms, at });
        this.guilds.add(event.guildId);
        return;
      }
      case "typing": {
        const key = `${event.guildId}|${event.channelId}|${event.userId}`;
        const expiresAt = event.startedAt.getTime() + typingTtlMs;
        if ((this.typing.get(key)?.expiresAt ?? 0) < expiresAt) this.typing.set(key, { guildId: event.guildId, channelId: event.channelId, userId: event.userId, expiresAt });
        this.guilds.add(event.guildId);
        return;
      }
      case "memberJoin":
        this.joins.push({ guildId: event.guildId, userId: event.userId, at: event.joinedAt.getTime(), accountAgeDays: event.accountAgeDays });
        this.guilds.add(event.guildId);
        return;
      default:
        return;
    }
  }

  /** Adds `by` to a counter key that expires at `expiresAt` (system-wide counters use it directly). */
  increment(key: string, by: number, expiresAt: number): void {
    const known = this.counters.get(key);
    if (known) known.by += by;
    else this.counters.set(key, { by, expiresAt });
  }

  /** True when nothing is pending. */
  isEmpty(): boolean {
    return this.counters.size === 0 && this.online.size === 0 && this.typing.size === 0 && this.joins.length === 0;
  }

  /**
   * Queues every pending change on `batch`. `needsExpiry(key)` says whether the key's expiry must be (re)sent: a
   * counter's expiry is fixed by its bucket, so sending it once per process is enough (retention repairs the rest).
   */
  writeTo(batch: StructureBatch, needsExpiry: (key: string) => boolean, streakDayKnown: (key: string, day: number) => boolean): void {
    for (const [key, { by, expiresAt }] of this.counters) {
      batch.incrby(key, by);
      if (needsExpiry(key)) batch.expireAt(key, expiresAt);
    }
    for (const [key, { members, expiresAt }] of this.scores) {
      for (const [member, by] of members) batch.zincrby(key, by, member);
      if (needsExpiry(key)) batch.expireAt(key, expiresAt);
    }
    for (const [key, days] of this.activeDays) {
      let added = false;
      for (const day of days) {
        if (streakDayKnown(key, day)) continue;
        batch.zadd(key, day, String(day), { nx: true });
        added = true;
      }
      if (added) batch.expire(key, ACTIVE_DAYS_RETENTION_MS);
    }
    this.writeLiveState(batch);
  }

  /** Active days this flush adds: marked known once the flush succeeded, so later events of that user-day cost nothing. */
  streakDays(): [key: string, days: Set<number>][] {
    return [...this.activeDays];
  }

  private writeLiveState(batch: StructureBatch): void {
    for (const { guildId, userId, status, platforms, at } of this.online.values()) {
      const offline = status === "offline" || status === "invisible";
      if (offline) batch.hdel(activityKeys.online(guildId), userId);
      else batch.hset(activityKeys.online(guildId), userId, JSON.stringify({ status, platforms, at: new Date(at).toISOString() }));
      for (const platform of LIVE_PLATFORMS) {
        const key = activityKeys.onlineOn(guildId, platform);
        if (!offline && platforms.includes(platform)) batch.sadd(key, JSON.stringify(userId)).expire(key, ONLINE_STATE_TTL_MS);
        else batch.srem(key, JSON.stringify(userId));
      }
      if (!offline) batch.expire(activityKeys.online(guildId), ONLINE_STATE_TTL_MS);
    }
    const latestPerChannel = new Map<string, { guildId: string; channelId: string; expiresAt: number }>();
    for (const { guildId, channelId, userId, expiresAt } of this.typing.values()) {
      batch.hset(activityKeys.typingIn(guildId, channelId), userId, String(expiresAt));
      const channelKey = `${guildId}|${channelId}`;
      if ((latestPerChannel.get(channelKey)?.expiresAt ?? 0) < expiresAt) latestPerChannel.set(channelKey, { guildId, channelId, expiresAt });
    }
    for (const { guildId, channelId, expiresAt } of latestPerChannel.values()) {
      // The channel's hash goes away with its last typer; the guild's channel index a little later (read filters it).
      batch.expireAt(activityKeys.typingIn(guildId, channelId), expiresAt);
      batch.hset(activityKeys.typingChannels(guildId), channelId, String(expiresAt));
      batch.expireAt(activityKeys.typingChannels(guildId), expiresAt + 60_000);
    }
    for (const { guildId, userId, at, accountAgeDays } of this.joins) {
      const key = activityKeys.joins(guildId);
      batch.lpush(key, JSON.stringify({ userId, at: new Date(at).toISOString(), accountAgeDays })).ltrim(key, 0, RECENT_JOINS - 1).expire(key, RECENT_JOINS_TTL_MS);
    }
  }

  /** Events of a flush come from a few minutes: their plans are computed once per flush. */
  private planOf(atMs: number): MinutePlan {
    const minute = bucketStart("minute", atMs);
    let plan = this.plans.get(minute);
    if (!plan) this.plans.set(minute, (plan = planMinute(minute)));
    return plan;
  }

  private score(key: string, member: string, by: number, expiresAt: number): void {
    let entry = this.scores.get(key);
    if (!entry) this.scores.set(key, (entry = { members: new Map(), expiresAt }));
    entry.members.set(member, (entry.members.get(member) ?? 0) + by);
  }
}

/** The buckets, leaderboard periods and day of one minute: computed once per minute, not per metric. */
interface MinutePlan {
  buckets: { granularity: Granularity; label: string; expiresAt: number }[];
  periods: { period: LeaderboardPeriod; label: string; expiresAt: number }[];
  day: number;
}

/** The buckets, periods and day of the minute starting at `minute`. */
function planMinute(minute: number): MinutePlan {
  return {
    buckets: GRANULARITIES.map((granularity) => {
      const start = bucketStart(granularity, minute);
      return { granularity, label: labelOf(granularity, start), expiresAt: bucketExpiresAt(granularity, start) };
    }),
    periods: LEADERBOARD_PERIODS.map((period) => {
      const start = bucketStart(period, minute);
      return { period, label: labelOf(period, start), expiresAt: nextBucketStart(period, start) + LEADERBOARD_RETENTION_MS[period] };
    }),
    day: dayNumber(minute),
  };
}
