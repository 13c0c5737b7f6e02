import { dayNumber, dayStart } from "./time-buckets.ts";

/** A user's streaks in a guild: runs of consecutive UTC days with a message or a typing event. */
export interface Streaks {
  /**
   * Days in the run that ends today, or yesterday when the user has not been active yet today (the streak is not
   * broken before today ends); 0 otherwise.
   */
  current: number;
  /** The longest run within retention (400 days). */
  longest: number;
  /** First day of the longest run (the most recent one on a tie), UTC date, or null. */
  longestStartedOn: string | null;
  /** Last active day, UTC date, or null. */
  lastActiveOn: string | null;
  /** Active days within retention. */
  activeDays: number;
}

/** Computes streaks from active day numbers (days since 1970-01-01 UTC), in any order, as of `nowMs`. */
export function computeStreaks(days: readonly number[], nowMs: number): Streaks {
  const sorted = [...new Set(days)].sort((a, b) => a - b);
  if (sorted.length === 0) return { current: 0, longest: 0, longestStartedOn: null, lastActiveOn: null, activeDays: 0 };
  let longest = 1;
  let longestStart = sorted[0]!;
  let runStart = sorted[0]!;
  for (let i = 1; i < sorted.length; i += 1) {
    if (sorted[i] !== sorted[i - 1]! + 1) runStart = sorted[i]!;
    const run = sorted[i]! - runStart + 1;
    if (run >= longest) {
      longest = run;
      longestStart = runStart;
    }
  }
  const last = sorted[sorted.length - 1]!;
  const today = dayNumber(nowMs);
  const current = last === today || last === today - 1 ? last - runStart + 1 : 0;
  return {
    current,
    longest,
    longestStartedOn: isoDay(longestStart),
    lastActiveOn: isoDay(last),
    activeDays: sorted.length,
  };
}

function isoDay(day: number): string {
  return new Date(dayStart(day)).toISOString().slice(0, 10);
}
