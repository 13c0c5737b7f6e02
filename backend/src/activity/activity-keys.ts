import type { ActivityMetricType, LeaderboardName, LeaderboardPeriod } from "./activity-metrics.ts";
import type { Granularity } from "./time-buckets.ts";

/**
 * The activity keys, relative to the cache's `activity` structure namespace (`<REDIS_KEY_PREFIX>:cache:activity:`).
 * Every key of a guild starts with the hash tag `{<guildId>}`, so a guild's keys share a cluster slot (a flush is one
 * script per guild, a timeline one read); system-wide keys share `{system}`. docs/activity.md lists each pattern with
 * its type and TTL.
 */

/** The structure namespace of activity keys. */
export const ACTIVITY_NAMESPACE = "activity";

/** Platforms tracked by "online now". */
export const LIVE_PLATFORMS = ["desktop", "mobile", "web"] as const;

/** Failure kinds of the ingestion writer recorded system-wide. */
export const INGEST_FAILURE_KINDS = ["failedAttempts", "rejected", "dropped", "abandonedOnClose"] as const;

/** One kind of ingestion failure. */
export type IngestFailureKind = (typeof INGEST_FAILURE_KINDS)[number];

/** The builders of every activity key. */
export const activityKeys = {
  /** Counter (string) of one metric in one day, week or month bucket: `{g}:count:messages:day:2026-12-06`. */
  count: (guildId: string, metric: ActivityMetricType, granularity: Granularity, label: string) =>
    `{${guildId}}:count:${metric}:${granularity}:${label}`,
  /**
   * Minute or hour counters of one metric, one hash per UTC day (minutes, field `HH:MM`) or month (hours, field
   * `DDTHH`): `{g}:minutes:messages:2026-12-06`, `{g}:hours:messages:2026-12` (see counter-slots.ts).
   */
  counterHash: (guildId: string, metric: ActivityMetricType, granularity: "minute" | "hour", containerLabel: string) =>
    `{${guildId}}:${granularity}s:${metric}:${containerLabel}`,
  /** Leaderboard (sorted set, member -> score) of one period: `{g}:top:users:day:2026-12-06`. */
  leaderboard: (guildId: string, board: LeaderboardName, period: LeaderboardPeriod, label: string) =>
    `{${guildId}}:top:${board}:${period}:${label}`,
  /** Active days of a user (sorted set, member and score the UTC day number): `{g}:days:<userId>`. */
  activeDays: (guildId: string, userId: string) => `{${guildId}}:days:${userId}`,
  /** Members online now (hash userId -> {status, platforms, at}). */
  online: (guildId: string) => `{${guildId}}:live:online`,
  /** Members online now on one platform (set of user ids). */
  onlineOn: (guildId: string, platform: string) => `{${guildId}}:live:online:${platform}`,
  /** Who is typing in one channel (hash userId -> expiry epoch ms); the key expires with its last typer. */
  typingIn: (guildId: string, channelId: string) => `{${guildId}}:live:typing:${channelId}`,
  /** Channels with someone typing (hash channelId -> latest expiry epoch ms). */
  typingChannels: (guildId: string) => `{${guildId}}:live:typing`,
  /** Recent joins (list of {userId, at, accountAgeDays}, newest first, at most 50). */
  joins: (guildId: string) => `{${guildId}}:live:joins`,
  /** Events of one metric in one second, all guilds (counter): `{system}:eps:messages:1796500000`. */
  eventsPerSecond: (metric: ActivityMetricType, epochSecond: number) => `{system}:eps:${metric}:${epochSecond}`,
  /** Ingestion failures of one kind in one minute (counter): `{system}:ingest:dropped:2026-12-06T03:59`. */
  ingestFailures: (kind: IngestFailureKind, minuteLabel: string) => `{system}:ingest:${kind}:${minuteLabel}`,
  /** SCAN pattern of every key of a guild. */
  guildPattern: (guildId: string) => `{${guildId}}:*`,
};

/** A counter key taken apart, or undefined for any other key. */
export function parseCountKey(
  key: string,
): { guildId: string; metric: string; granularity: string; label: string } | undefined {
  const match = /^\{(\d+)\}:count:([a-z]+):([a-z]+):(.+)$/.exec(key);
  return match ? { guildId: match[1]!, metric: match[2]!, granularity: match[3]!, label: match[4]! } : undefined;
}

/** A minute or hour counter hash key taken apart, or undefined for any other key. */
export function parseCounterHashKey(
  key: string,
): { guildId: string; granularity: "minute" | "hour"; metric: string; containerLabel: string } | undefined {
  const match = /^\{(\d+)\}:(minute|hour)s:([a-z]+):(.+)$/.exec(key);
  return match
    ? { guildId: match[1]!, granularity: match[2] as "minute" | "hour", metric: match[3]!, containerLabel: match[4]! }
    : undefined;
}

/** A leaderboard key taken apart, or undefined for any other key. */
export function parseLeaderboardKey(
  key: string,
): { guildId: string; board: string; period: string; label: string } | undefined {
  const match = /^\{(\d+)\}:top:([a-z]+):([a-z]+):(.+)$/.exec(key);
  return match ? { guildId: match[1]!, board: match[2]!, period: match[3]!, label: match[4]! } : undefined;
}
