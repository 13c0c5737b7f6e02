import { DAY_MS, splitWindow, type TimeWindow } from "./analytics-window.ts";

/** Raw events in [since, until) counted with `sign` towards the current window (`isNow`) or the one before. */
export interface RawPiece {
  since: Date;
  until: Date;
  sign: 1 | -1;
  isNow: boolean;
}

/** One UTC day of a rollup (`YYYY-MM-DD`) counted towards the current window or the one before. */
export interface DayPiece {
  day: string;
  isNow: boolean;
}

/** How to count a window from rollup days and raw events: days added, raw pieces added or subtracted. */
export interface RollupPlan {
  days: DayPiece[];
  raw: RawPiece[];
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * Plans a window over a daily rollup whose counts are additive. Whole days come from the rollup. A partial day
 * at an edge is read raw when it is at most half a day; otherwise as the whole rollup day minus the raw events
 * of the rest of that day, so no edge reads more than 12 hours of raw events. For a window ending now, the rest
 * of today lies in the future and is (nearly) empty, so today costs almost nothing.
 */
export function planAdditiveWindow(window: TimeWindow, isNow: boolean): RollupPlan {
  const split = splitWindow(window, DAY_MS);
  const plan: RollupPlan = { days: [], raw: [] };
  for (let day = split.whole.since.getTime(); day < split.whole.until.getTime(); day += DAY_MS) {
    plan.days.push({ day: isoDay(day), isNow });
  }
  for (const edge of [split.head, split.tail]) {
    for (const part of byDay(edge)) addEdge(plan, part, isNow);
  }
  return plan;
}

/** Both windows of an analytic that compares with the window before, in one plan. */
export function planTwoWindows(window: TimeWindow, previous: TimeWindow): RollupPlan {
  const now = planAdditiveWindow(window, true);
  const before = planAdditiveWindow(previous, false);
  return { days: [...before.days, ...now.days], raw: [...before.raw, ...now.raw] };
}

// A window with no whole day (e.g. 20:00 to 04:00 the next day) has one edge spanning midnight: cut it per day.
function byDay(edge: TimeWindow): TimeWindow[] {
  const parts: TimeWindow[] = [];
  let start = edge.since.getTime();
  const end = edge.until.getTime();
  while (start < end) {
    const nextDay = Math.floor(start / DAY_MS) * DAY_MS + DAY_MS;
    const stop = Math.min(end, nextDay);
    parts.push({ since: new Date(start), until: new Date(stop) });
    start = stop;
  }
  return parts;
}

function addEdge(plan: RollupPlan, part: TimeWindow, isNow: boolean): void {
  const since = part.since.getTime();
  const until = part.until.getTime();
  if (until - since <= DAY_MS / 2) {
    plan.raw.push({ since: part.since, until: part.until, sign: 1, isNow });
    return;
  }
  const dayStart = Math.floor(since / DAY_MS) * DAY_MS;
  plan.days.push({ day: isoDay(dayStart), isNow });
  if (since > dayStart) plan.raw.push({ since: new Date(dayStart), until: part.since, sign: -1, isNow });
  if (until < dayStart + DAY_MS)
    plan.raw.push({ since: part.until, until: new Date(dayStart + DAY_MS), sign: -1, isNow });
}
