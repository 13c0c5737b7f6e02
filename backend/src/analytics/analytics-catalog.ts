/**
 * The six analytics, their cache TTLs, and how their cache keys and tags are named. Shared by the API (which
 * caches them) and the invalidation service (which invalidates them), so both always agree on names.
 */
export const ANALYTICS_TYPES = ["ghosts", "lurkers", "heatmap", "roles", "clients", "shifts"] as const;

/** One of the six analytics. */
export type AnalyticsType = (typeof ANALYTICS_TYPES)[number];

/** Fresh TTL per analytic in seconds (the cache API's unit for numbers), from document 001's table. */
export const ANALYTICS_TTL_SECONDS: Record<AnalyticsType, number> = {
  ghosts: 5 * 60,
  lurkers: 5 * 60,
  heatmap: 15 * 60,
  roles: 10 * 60,
  clients: 2 * 60,
  shifts: 5 * 60,
};

/** True when `value` names one of the six analytics. */
export function isAnalyticsType(value: string): value is AnalyticsType {
  return (ANALYTICS_TYPES as readonly string[]).includes(value);
}

/**
 * Cache key of one analytics result: `analytics:<type>:<guildId>:<since>`, with `since` rounded down to the
 * minute (ISO form) so requests within one minute share an entry. `variant` distinguishes other parameters
 * (such as `limit`) when they change the result.
 */
export function analyticsCacheKey(type: AnalyticsType, guildId: string, since: Date, variant?: string): string {
  const minute = new Date(Math.floor(since.getTime() / 60_000) * 60_000).toISOString();
  return `analytics:${type}:${guildId}:${minute}${variant ? `:${variant}` : ""}`;
}

/** Tag on every cached analytic of one guild. */
export function guildTag(guildId: string): string {
  return `guild:${guildId}`;
}

/** Tag on every cached result of one analytic type, across guilds. */
export function analyticsTypeTag(type: AnalyticsType): string {
  return `analytics:${type}`;
}

/** Tag on one analytic type of one guild: what event-driven invalidation bumps, so other guilds keep hitting. */
export function guildAnalyticsTag(type: AnalyticsType, guildId: string): string {
  return `analytics:${type}:guild:${guildId}`;
}

/** Every tag a cached analytics result carries. */
export function analyticsTags(type: AnalyticsType, guildId: string): string[] {
  return [guildTag(guildId), analyticsTypeTag(type), guildAnalyticsTag(type, guildId)];
}
