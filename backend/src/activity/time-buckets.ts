/**
 * UTC time buckets of the activity counters: minute, hour, day, week (ISO: Monday 00:00 UTC) and month. Each bucket
 * is named by a readable label (`2026-12-06T03:59`, `2026-12-06T03`, `2026-12-06`, `2026-W11-30`... see `labelOf`)
 * that appears in its Redis key, and is kept for a retention that fits its size (docs/activity.md).
 */

/** The granularities, finest first. */
export const GRANULARITIES = ["minute", "hour", "day", "week", "month"] as const;

/** One granularity. */
export type Granularity = (typeof GRANULARITIES)[number];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * How long a bucket's counter stays in Redis after the bucket ends. Chosen so each granularity covers the windows a
 * dashboard asks of it: minutes for the last 2 days, hours for a 30-day timeline (plus margin), days for a year,
 * weeks for 2 years, months for 5 years. Minute counters are the bulk of the keys, so they go first.
 */
export const BUCKET_RETENTION_MS: Readonly<Record<Granularity, number>> = {
  minute: 2 * DAY,
  hour: 35 * DAY,
  day: 400 * DAY,
  week: 730 * DAY,
  month: 1_826 * DAY,
};

/** Start (epoch ms, UTC) of the bucket holding `atMs`. */
export function bucketStart(granularity: Granularity, atMs: number): number {
  switch (granularity) {
    case "minute":
      return atMs - mod(atMs, MINUTE);
    case "hour":
      return atMs - mod(atMs, HOUR);
    case "day":
      return atMs - mod(atMs, DAY);
    case "week": {
      const day = atMs - mod(atMs, DAY);
      // 1970-01-01 was a Thursday: days since a Monday = (dayNumber + 3) mod 7.
      return day - mod(day / DAY + 3, 7) * DAY;
    }
    case "month": {
      const date = new Date(atMs);
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
    }
  }
}

/** Start of the bucket after the one starting at `startMs` (months have their real lengths, leap years included). */
export function nextBucketStart(granularity: Granularity, startMs: number): number {
  switch (granularity) {
    case "minute":
      return startMs + MINUTE;
    case "hour":
      return startMs + HOUR;
    case "day":
      return startMs + DAY;
    case "week":
      return startMs + 7 * DAY;
    case "month": {
      const date = new Date(startMs);
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
    }
  }
}

/** When the counter of the bucket starting at `startMs` expires (bucket end + retention). */
export function bucketExpiresAt(granularity: Granularity, startMs: number): number {
  return nextBucketStart(granularity, startMs) + BUCKET_RETENTION_MS[granularity];
}

/**
 * The label of the bucket starting at `startMs`: minute `2026-12-06T03:59`, hour `2026-12-06T03`, day `2026-12-06`,
 * week `2026-11-30w` (its Monday), month `2026-12`.
 */
export function labelOf(granularity: Granularity, startMs: number): string {
  const iso = new Date(startMs).toISOString();
  switch (granularity) {
    case "minute":
      return iso.slice(0, 16);
    case "hour":
      return iso.slice(0, 13);
    case "day":
      return iso.slice(0, 10);
    case "week":
      return `${iso.slice(0, 10)}w`;
    case "month":
      return iso.slice(0, 7);
  }
}

/** The start (epoch ms) a label names, or undefined when it is not a label of `granularity`. */
export function parseLabel(granularity: Granularity, label: string): number | undefined {
  const pattern = LABEL_PATTERNS[granularity];
  if (!pattern.test(label)) return undefined;
  const iso =
    granularity === "minute"
      ? `${label}:00Z`
      : granularity === "hour"
        ? `${label}:00:00Z`
        : granularity === "week"
          ? `${label.slice(0, -1)}T00:00:00Z`
          : granularity === "month"
            ? `${label}-01T00:00:00Z`
            : `${label}T00:00:00Z`;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) || labelOf(granularity, ms) !== label ? undefined : ms;
}

const LABEL_PATTERNS: Record<Granularity, RegExp> = {
  minute: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/,
  hour: /^\d{4}-\d{2}-\d{2}T\d{2}$/,
  day: /^\d{4}-\d{2}-\d{2}$/,
  week: /^\d{4}-\d{2}-\d{2}w$/,
  month: /^\d{4}-\d{2}$/,
};

/** Bucket starts from the bucket holding `fromMs` to the bucket holding `toMs`, inclusive, oldest first. */
export function bucketStarts(granularity: Granularity, fromMs: number, toMs: number): number[] {
  const starts: number[] = [];
  for (let start = bucketStart(granularity, fromMs); start <= toMs; start = nextBucketStart(granularity, start))
    starts.push(start);
  return starts;
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, "0"));

/**
 * ISO 8601 strings of whole-minute instants, as `toISOString` gives them, calling it once per UTC day only (a
 * 721-point timeline spent most of its Node time in `toISOString`).
 */
export function isoStrings(startsMs: readonly number[]): string[] {
  let day = Number.NaN;
  let prefix = "";
  return startsMs.map((ms) => {
    const msOfDay = mod(ms, DAY);
    if (msOfDay % MINUTE !== 0) return new Date(ms).toISOString();
    if (ms - msOfDay !== day) {
      day = ms - msOfDay;
      const iso = new Date(day).toISOString();
      prefix = iso.slice(0, iso.indexOf("T") + 1);
    }
    return `${prefix}${TWO_DIGITS[Math.floor(msOfDay / HOUR)]}:${TWO_DIGITS[Math.floor(msOfDay / MINUTE) % 60]}:00.000Z`;
  });
}

/** Number of whole UTC days since 1970-01-01 of `atMs` (a streak's day number). */
export function dayNumber(atMs: number): number {
  return Math.floor(atMs / DAY);
}

/** Start (epoch ms) of a day number. */
export function dayStart(day: number): number {
  return day * DAY;
}

function mod(value: number, by: number): number {
  return ((value % by) + by) % by;
}
