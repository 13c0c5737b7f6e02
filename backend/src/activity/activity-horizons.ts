/**
 * How long each kind of activity data is kept in Redis (besides the counters' BUCKET_RETENTION_MS in
 * time-buckets.ts). The recorder sets these expiries, the retention cleanup enforces them, docs/activity.md lists them.
 */

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
