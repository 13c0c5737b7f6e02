/**
 * The names of the analytics, in catalog order, and how their cache keys and tags are named. Everything else about
 * an analytic (TTL, what it reads, params, computations) is its definition in `definitions/<type>.ts`, and
 * `definitions/index.ts` must hold exactly one per name here. The names stay a light module of their own so the
 * pub/sub schema, the CLI and the realtime side can name analytics without loading their SQL.
 */
export const ANALYTICS_TYPES = ["ghosts", "lurkers", "heatmap", "roles", "clients", "shifts", "deletions"] as const;

/** One of the analytics. */
export type AnalyticsType = (typeof ANALYTICS_TYPES)[number];

/** True when `value` names one of the analytics. */
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
