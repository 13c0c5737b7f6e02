/**
 * The time window of an analytics query: `since` (an ISO time or a relative `15m`/`24h`/`7d`) up to now,
 * half-open [since, until). Clients and shifts also compare with the equally long window just before it.
 */

/** The `since` used when a request gives none. */
export const DEFAULT_SINCE = "7d";
/** The longest window a request may ask for, in ms (90 days). */
export const MAX_WINDOW_MS = 90 * 24 * 60 * 60_000;

/** A half-open time range [since, until). */
export interface TimeWindow {
  since: Date;
  until: Date;
}

/** What `parseSince` returns: a start time, or why the input is not one (an expected failure, not an exception). */
export type SinceParseResult = { ok: true; since: Date } | { ok: false; message: string };

const RELATIVE = /^(\d{1,6})(m|h|d)$/;
const UNIT_MS = { m: 60_000, h: 60 * 60_000, d: 24 * 60 * 60_000 } as const;
// Date-only or date-time with optional seconds, fraction and zone: what a dashboard or `date -Iseconds` sends.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Parses `since` relative to `now`: `15m`, `24h`, `7d` (minutes, hours, days) or an ISO 8601 time.
 * The window must be longer than zero and at most 90 days; undefined or "" means the default `7d`.
 */
export function parseSince(input: string | undefined, now: Date): SinceParseResult {
  const raw = input === undefined || input === "" ? DEFAULT_SINCE : input.trim();
  let since: Date;
  const relative = RELATIVE.exec(raw);
  if (relative) {
    const amount = Number(relative[1]);
    const unit = relative[2] as keyof typeof UNIT_MS;
    if (amount === 0) return { ok: false, message: "must be a window longer than zero (e.g. 15m, 24h, 7d)" };
    since = new Date(now.getTime() - amount * UNIT_MS[unit]);
  } else if (ISO_TIME.test(raw)) {
    since = new Date(raw);
    if (Number.isNaN(since.getTime()) || !isCalendarDate(raw))
      return { ok: false, message: `"${raw}" is not a valid time` };
    if (since.getTime() >= now.getTime()) return { ok: false, message: "must be in the past" };
  } else {
    return { ok: false, message: 'must be an ISO 8601 time or a relative window such as "15m", "24h" or "7d"' };
  }
  if (now.getTime() - since.getTime() > MAX_WINDOW_MS) return { ok: false, message: "must be at most 90 days ago" };
  return { ok: true, since };
}

// Date.parse rolls 2026-02-30 over to March 2 instead of rejecting it: check the calendar ourselves.
function isCalendarDate(iso: string): boolean {
  const [year, month, day] = iso.slice(0, 10).split("-").map(Number) as [number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth;
}

/** The window [since, now). */
export function currentWindow(since: Date, now: Date): TimeWindow {
  return { since, until: now };
}

/** The equally long window just before `window`: [since - length, since). */
export function previousWindow(window: TimeWindow): TimeWindow {
  const length = window.until.getTime() - window.since.getTime();
  return { since: new Date(window.since.getTime() - length), until: window.since };
}

/** Rounds a time down to the whole minute: the API's windows start on a minute, as their cache keys do. */
export function floorToMinute(time: Date): Date {
  return new Date(Math.floor(time.getTime() / 60_000) * 60_000);
}

/** A window cut at whole units: raw edges before and after, whole units in between (each may be empty). */
export interface WindowSplit {
  head: TimeWindow;
  whole: TimeWindow;
  tail: TimeWindow;
}

/** One UTC day in ms (UTC has no daylight saving, so days are fixed length). */
export const DAY_MS = 24 * 60 * 60_000;
/** One hour in ms. */
export const HOUR_MS = 60 * 60_000;

/**
 * Splits [since, until) into the partial unit at its start (head), the whole units (whole) and the partial unit
 * at its end (tail), for reading whole units from a rollup and the edges from raw events. When no whole unit
 * fits, head is the entire window and whole and tail are empty.
 */
export function splitWindow(window: TimeWindow, unitMs: number): WindowSplit {
  const since = window.since.getTime();
  const until = window.until.getTime();
  const wholeStart = Math.ceil(since / unitMs) * unitMs;
  const wholeEnd = Math.floor(until / unitMs) * unitMs;
  const empty = { since: window.until, until: window.until };
  if (wholeStart >= wholeEnd) return { head: window, whole: empty, tail: empty };
  return {
    head: { since: window.since, until: new Date(wholeStart) },
    whole: { since: new Date(wholeStart), until: new Date(wholeEnd) },
    tail: { since: new Date(wholeEnd), until: window.until },
  };
}
