import type { CacheStructures } from "../cache/structures/data-structures.ts";
import { activityKeys } from "./activity-keys.ts";
import type { ActivityMetricType, LeaderboardName, LeaderboardPeriod } from "./activity-metrics.ts";
import { computeStreaks, type Streaks } from "./streaks.ts";
import { bucketStart, bucketStarts, labelOf, nextBucketStart, type Granularity } from "./time-buckets.ts";

/** Most buckets one timeline may return. */
export const MAX_TIMELINE_POINTS = 1_500;

/** One bucket of a timeline. */
export interface TimelinePoint {
  /** Bucket start, ISO 8601 UTC. */
  start: string;
  count: number;
}

/** A timeline: every bucket from the one holding `since` to the current one, empty buckets as 0. */
export interface Timeline {
  guildId: string;
  metric: ActivityMetricType;
  granularity: Granularity;
  since: string;
  until: string;
  total: number;
  points: TimelinePoint[];
}

/** One ranked entry: competition ranking (ties share a rank; the next rank skips), ties listed by id in byte order. */
export interface RankedEntry {
  rank: number;
  id: string;
  score: number;
}

/** A leaderboard of one period, with one member's standing when asked. */
export interface Leaderboard {
  guildId: string;
  board: LeaderboardName;
  period: LeaderboardPeriod;
  /** The period's label (`2026-12-06`, `2026-11-30w`, `2026-12`) and its start and end (ISO 8601 UTC). */
  label: string;
  from: string;
  to: string;
  /** Members with a score in the period. */
  members: number;
  top: RankedEntry[];
  /** The asked member's rank and score (null rank when it has none in the period). */
  member?: { id: string; rank: number | null; score: number };
}

/** Reads the activity Redis keeps: timelines, leaderboards, streaks. Live state is read by LiveStateReader. */
export class ActivityReader {
  constructor(private readonly structures: CacheStructures) {}

  /** Counts per bucket from `sinceMs` to `nowMs` (one MGET); rejects RangeError when more than MAX_TIMELINE_POINTS buckets. */
  async timeline(guildId: string, metric: ActivityMetricType, granularity: Granularity, sinceMs: number, nowMs: number): Promise<Timeline> {
    const starts = bucketStarts(granularity, sinceMs, nowMs);
    if (starts.length > MAX_TIMELINE_POINTS) {
      throw new RangeError(`${starts.length} ${granularity} buckets asked; at most ${MAX_TIMELINE_POINTS}: use a coarser granularity or a later since`);
    }
    const counts = await this.structures.mget(starts.map((start) => activityKeys.count(guildId, metric, granularity, labelOf(granularity, start))));
    let total = 0;
    const points = starts.map((start, i) => {
      const count = Number(counts[i] ?? 0);
      total += count;
      return { start: new Date(start).toISOString(), count };
    });
    return { guildId, metric, granularity, since: new Date(starts[0]!).toISOString(), until: new Date(nowMs).toISOString(), total, points };
  }

  /** The top `limit` of a leaderboard for the period holding `atMs`, and `memberId`'s rank and score when given. */
  async leaderboard(guildId: string, board: LeaderboardName, period: LeaderboardPeriod, atMs: number, limit: number, memberId?: string): Promise<Leaderboard> {
    const start = bucketStart(period, atMs);
    const label = labelOf(period, start);
    const key = this.structures.key(activityKeys.leaderboard(guildId, board, period, label));
    const [head, members] = await this.structures.call("leaderboard", (c) =>
      Promise.all([c.zrevrange(key, 0, limit - 1, "WITHSCORES"), c.zcard(key)]), key,
    );
    const entries = pairs(head);
    let top = entries;
    if (entries.length === limit && limit > 0) {
      // Redis orders equal scores by member in reverse byte order: re-take the last score's tie group in byte order.
      const lastScore = entries[limit - 1]!.score;
      const above = entries.filter((entry) => entry.score > lastScore);
      const tied = await this.structures.call("leaderboard", (c) => c.zrangebyscore(key, lastScore, lastScore, "LIMIT", 0, limit - above.length), key);
      top = [...above, ...tied.map((id) => ({ id, score: lastScore }))];
    } else {
      top = [...entries].sort((a, b) => b.score - a.score || byteOrder(a.id, b.id));
    }
    const ranked = rank(top);
    const result: Leaderboard = {
      guildId,
      board,
      period,
      label,
      from: new Date(start).toISOString(),
      to: new Date(nextBucketStart(period, start)).toISOString(),
      members,
      top: ranked,
    };
    if (memberId !== undefined) result.member = await this.memberStanding(key, memberId);
    return result;
  }

  /** A user's current and longest streak of active UTC days in a guild, as of `nowMs`. */
  async streaks(guildId: string, userId: string, nowMs: number): Promise<Streaks & { guildId: string; userId: string }> {
    const key = this.structures.key(activityKeys.activeDays(guildId, userId));
    const days = await this.structures.call("streaks", (c) => c.zrange(key, "0", "-1"), key);
    return { guildId, userId, ...computeStreaks(days.map(Number), nowMs) };
  }

  private async memberStanding(key: string, id: string): Promise<{ id: string; rank: number | null; score: number }> {
    const raw = await this.structures.call("leaderboard", (c) => c.zscore(key, id), key);
    if (raw === null) return { id, rank: null, score: 0 };
    const score = Number(raw);
    const higher = await this.structures.call("leaderboard", (c) => c.zcount(key, `(${score}`, "+inf"), key);
    return { id, rank: higher + 1, score };
  }
}

function pairs(flat: string[]): { id: string; score: number }[] {
  const result: { id: string; score: number }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) result.push({ id: flat[i]!, score: Number(flat[i + 1]) });
  return result;
}

function rank(sorted: { id: string; score: number }[]): RankedEntry[] {
  let previous: { score: number; rank: number } | undefined;
  return sorted.map((entry, i) => {
    const rankOf = previous && previous.score === entry.score ? previous.rank : i + 1;
    previous = { score: entry.score, rank: rankOf };
    return { rank: rankOf, id: entry.id, score: entry.score };
  });
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
