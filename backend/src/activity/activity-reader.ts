import type { CacheStructures } from "../cache/structures/data-structures.ts";
import { activityKeys } from "./activity-keys.ts";
import type { ActivityMetricType, LeaderboardName, LeaderboardPeriod } from "./activity-metrics.ts";
import { READ_COUNTER_HASHES, READ_LEADERBOARD } from "./activity-scripts.ts";
import {
  CONTAINER_OF,
  fieldOffset,
  HASHED_BUCKET_MS,
  isFieldOf,
  isHashed,
  isPastHorizon,
  type HashedGranularity,
} from "./counter-slots.ts";
import { computeStreaks, type Streaks } from "./streaks.ts";
import { bucketStart, bucketStarts, isoStrings, labelOf, nextBucketStart, type Granularity } from "./time-buckets.ts";

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

  /**
   * Counts per bucket from `sinceMs` to `nowMs`, empty buckets and buckets past their retention as 0: one script
   * call for minutes and hours (their hashes, one per day or month), one MGET otherwise. Rejects RangeError when more
   * than MAX_TIMELINE_POINTS buckets are asked.
   */
  async timeline(
    guildId: string,
    metric: ActivityMetricType,
    granularity: Granularity,
    sinceMs: number,
    nowMs: number,
  ): Promise<Timeline> {
    const starts = bucketStarts(granularity, sinceMs, nowMs);
    if (starts.length > MAX_TIMELINE_POINTS) {
      throw new RangeError(
        `${starts.length} ${granularity} buckets asked; at most ${MAX_TIMELINE_POINTS}: use a coarser granularity or a later since`,
      );
    }
    const counts = isHashed(granularity)
      ? await this.hashedCounts(guildId, metric, granularity, starts)
      : await this.stringCounts(guildId, metric, granularity, starts);
    let total = 0;
    const isoStarts = isoStrings(starts);
    const points = starts.map((start, i) => {
      const count = isPastHorizon(granularity, start, nowMs) ? 0 : counts[i]!;
      total += count;
      return { start: isoStarts[i]!, count };
    });
    return {
      guildId,
      metric,
      granularity,
      since: new Date(starts[0]!).toISOString(),
      until: new Date(nowMs).toISOString(),
      total,
      points,
    };
  }

  /** The top `limit` of a leaderboard for the period holding `atMs`, and `memberId`'s rank and score when given (one script call). */
  async leaderboard(
    guildId: string,
    board: LeaderboardName,
    period: LeaderboardPeriod,
    atMs: number,
    limit: number,
    memberId?: string,
  ): Promise<Leaderboard> {
    const start = bucketStart(period, atMs);
    const label = labelOf(period, start);
    const key = this.structures.key(activityKeys.leaderboard(guildId, board, period, label));
    const [head, members, tied, standing] = (await this.structures.call(
      "leaderboard",
      (c) => READ_LEADERBOARD.run(c, [key], [limit, memberId ?? ""]),
      key,
    )) as [string[], number, string[], [score: string, higher: number] | null];
    const entries = pairs(head);
    let top: { id: string; score: number }[];
    if (entries.length === limit && limit > 0) {
      // Redis orders equal scores by member in reverse byte order: the script re-took the last score's tie group in byte order.
      const lastScore = entries[limit - 1]!.score;
      top = [...entries.filter((entry) => entry.score > lastScore), ...tied.map((id) => ({ id, score: lastScore }))];
    } else {
      top = [...entries].sort((a, b) => b.score - a.score || byteOrder(a.id, b.id));
    }
    const result: Leaderboard = {
      guildId,
      board,
      period,
      label,
      from: new Date(start).toISOString(),
      to: new Date(nextBucketStart(period, start)).toISOString(),
      members,
      top: rank(top),
    };
    if (memberId !== undefined)
      result.member = standing
        ? { id: memberId, rank: standing[1] + 1, score: Number(standing[0]) }
        : { id: memberId, rank: null, score: 0 };
    return result;
  }

  /** A user's current and longest streak of active UTC days in a guild, as of `nowMs`. */
  async streaks(
    guildId: string,
    userId: string,
    nowMs: number,
  ): Promise<Streaks & { guildId: string; userId: string }> {
    const key = this.structures.key(activityKeys.activeDays(guildId, userId));
    const days = await this.structures.call("streaks", (c) => c.zrange(key, "0", "-1"), key);
    return { guildId, userId, ...computeStreaks(days.map(Number), nowMs) };
  }

  private async stringCounts(
    guildId: string,
    metric: ActivityMetricType,
    granularity: Granularity,
    starts: number[],
  ): Promise<number[]> {
    const values = await this.structures.mget(
      starts.map((start) => activityKeys.count(guildId, metric, granularity, labelOf(granularity, start))),
    );
    return values.map((value) => Number(value ?? 0));
  }

  /** Counts of minute or hour buckets from their hashes (one per UTC day or month), read in one script call. */
  private async hashedCounts(
    guildId: string,
    metric: ActivityMetricType,
    granularity: HashedGranularity,
    starts: number[],
  ): Promise<number[]> {
    const container = CONTAINER_OF[granularity];
    const containerStarts = bucketStarts(container, starts[0]!, starts[starts.length - 1]!);
    const keys = containerStarts.map((start) =>
      this.structures.key(activityKeys.counterHash(guildId, metric, granularity, labelOf(container, start))),
    );
    const replies = (await this.structures.call(
      "timeline",
      (c) => READ_COUNTER_HASHES.run(c, keys, []),
      keys[0],
    )) as string[];
    const counts = new Array<number>(starts.length).fill(0);
    const unit = HASHED_BUCKET_MS[granularity];
    replies.forEach((reply, i) => {
      // Index in `starts` of the container's first bucket: buckets are of fixed length, so a field's index is an offset from it.
      const base = (containerStarts[i]! - starts[0]!) / unit;
      forEachCounterField(reply, (first, second, count) => {
        if (!isFieldOf(granularity, first, second)) return;
        const index = base + fieldOffset(granularity, first, second);
        if (index >= 0 && index < counts.length) counts[index] = count;
      });
    });
    return counts;
  }
}

/**
 * Walks a READ_COUNTER_HASHES reply (`field,value,field,value`, fields `HH:MM` or `DDTHH`) without allocating a
 * string per field: calls `visit` with the field's two numbers and the count. Fields of another shape are skipped.
 */
function forEachCounterField(reply: string, visit: (first: number, second: number, count: number) => void): void {
  let at = 0;
  while (at < reply.length) {
    const fieldEnd = reply.indexOf(",", at);
    if (fieldEnd < 0) return;
    let valueEnd = reply.indexOf(",", fieldEnd + 1);
    if (valueEnd < 0) valueEnd = reply.length;
    if (fieldEnd - at === 5) {
      const first = digit(reply, at) * 10 + digit(reply, at + 1);
      const second = digit(reply, at + 3) * 10 + digit(reply, at + 4);
      const count = Number(reply.slice(fieldEnd + 1, valueEnd));
      if (first >= 0 && second >= 0 && Number.isFinite(count)) visit(first, second, count);
    }
    at = valueEnd + 1;
  }
}

/** The digit at `at`, or -100 when it is not one (so a two-digit number made with it stays negative). */
function digit(text: string, at: number): number {
  const code = text.charCodeAt(at) - 48;
  return code >= 0 && code <= 9 ? code : -100;
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
