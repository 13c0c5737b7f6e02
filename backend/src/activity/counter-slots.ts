import { activityKeys } from "./activity-keys.ts";
import type { ActivityMetricType } from "./activity-metrics.ts";
import {
  BUCKET_RETENTION_MS,
  bucketExpiresAt,
  bucketStart,
  labelOf,
  nextBucketStart,
  parseLabel,
  type Granularity,
} from "./time-buckets.ts";

/**
 * Where the counter of each bucket lives. Minute and hour counters are fields of one hash per larger period, its
 * container (minutes: the UTC day, field `HH:MM`; hours: the UTC month, field `DDTHH`), so a 30-day hourly
 * timeline reads two keys instead of 721 and a flush writes a handful of keys per guild and metric. Day, week and
 * month counters are one string key each (`INCRBY`, `MGET`).
 *
 * A hash expires as a whole, at its container's end + the granularity's retention; a field passed its own horizon
 * (bucket end + retention) before that reads as 0 (`isPastHorizon`) and is removed by the retention cleanup.
 */

/** The container period of each hashed granularity. */
export const CONTAINER_OF = { minute: "day", hour: "month" } as const satisfies Partial<
  Record<Granularity, Granularity>
>;

/** A granularity whose counters are hash fields. */
export type HashedGranularity = keyof typeof CONTAINER_OF;

/** Length of one hashed bucket (minutes and hours have fixed lengths in UTC). */
export const HASHED_BUCKET_MS: Readonly<Record<HashedGranularity, number>> = { minute: 60_000, hour: 3_600_000 };

/** True for minute and hour. */
export function isHashed(granularity: Granularity): granularity is HashedGranularity {
  return granularity === "minute" || granularity === "hour";
}

/** Where one bucket's counter lives: a hash and its field, or a string key (`field` undefined). */
export interface CounterSlot {
  key: string;
  field: string | undefined;
  /** When the key expires: its container's (or its own) bucket end + retention. */
  keyExpiresAt: number;
}

/** The slot of the `granularity` bucket starting at `startMs` of one guild and metric. */
export function counterSlot(
  guildId: string,
  metric: ActivityMetricType,
  granularity: Granularity,
  startMs: number,
): CounterSlot {
  if (!isHashed(granularity)) {
    return {
      key: activityKeys.count(guildId, metric, granularity, labelOf(granularity, startMs)),
      field: undefined,
      keyExpiresAt: bucketExpiresAt(granularity, startMs),
    };
  }
  const container = CONTAINER_OF[granularity];
  const containerStart = bucketStart(container, startMs);
  return {
    key: activityKeys.counterHash(guildId, metric, granularity, labelOf(container, containerStart)),
    field: fieldOf(granularity, startMs),
    keyExpiresAt: containerExpiresAt(granularity, containerStart),
  };
}

/** When the hash of `granularity` counters whose container starts at `containerStart` expires. */
export function containerExpiresAt(granularity: HashedGranularity, containerStart: number): number {
  return nextBucketStart(CONTAINER_OF[granularity], containerStart) + BUCKET_RETENTION_MS[granularity];
}

/** The field of a bucket in its hash: minute `HH:MM` (of its UTC day), hour `DDTHH` (of its UTC month). */
export function fieldOf(granularity: HashedGranularity, startMs: number): string {
  const iso = new Date(startMs).toISOString();
  return granularity === "minute" ? iso.slice(11, 16) : iso.slice(8, 13);
}

/**
 * The bucket start a field names in the container starting at `containerStart`, or undefined when it is not a field
 * of that container. Both field forms have two-digit numbers at positions 0-1 and 3-4 (`HH:MM`, `DDTHH`).
 */
export function fieldStart(granularity: HashedGranularity, containerStart: number, field: string): number | undefined {
  const match = (granularity === "minute" ? /^(\d{2}):(\d{2})$/ : /^(\d{2})T(\d{2})$/).exec(field);
  if (!match) return undefined;
  const start =
    containerStart + fieldOffset(granularity, Number(match[1]), Number(match[2])) * HASHED_BUCKET_MS[granularity];
  return fieldOf(granularity, start) === field && start < nextBucketStart(CONTAINER_OF[granularity], containerStart)
    ? start
    : undefined;
}

/** Buckets from the container's start to the bucket a field names: minutes `HH*60+MM`, hours `(DD-1)*24+HH`. */
export function fieldOffset(granularity: HashedGranularity, first: number, second: number): number {
  return granularity === "minute" ? first * 60 + second : (first - 1) * 24 + second;
}

/** True when two numbers can name a field: minute `HH:MM` (0-23, 0-59), hour `DDTHH` (1-31, 0-23). */
export function isFieldOf(granularity: HashedGranularity, first: number, second: number): boolean {
  return granularity === "minute"
    ? first >= 0 && first < 24 && second >= 0 && second < 60
    : first >= 1 && first <= 31 && second >= 0 && second < 24;
}

/** The start of the container a hash key's label names, or undefined. */
export function containerStartOf(granularity: HashedGranularity, containerLabel: string): number | undefined {
  return parseLabel(CONTAINER_OF[granularity], containerLabel);
}

/** True when the bucket starting at `startMs` is past its horizon (bucket end + retention) as of `nowMs`: it reads as 0. */
export function isPastHorizon(granularity: Granularity, startMs: number, nowMs: number): boolean {
  return bucketExpiresAt(granularity, startMs) <= nowMs;
}
