import { z } from "zod";
import { ANALYTICS_TYPES } from "../analytics/analytics-catalog.ts";

/**
 * The `analytics:update` event: published on Redis pub/sub after a guild's analytics were invalidated, so every
 * API instance can drop in-process copies and tell subscribed WebSockets to refetch.
 */

/** Payload of an analytics update: which analytics of which guild changed, and when (ISO 8601) they were invalidated. */
export const analyticsUpdateSchema = z.object({
  guildId: z.string().regex(/^\d{1,20}$/),
  types: z.array(z.enum(ANALYTICS_TYPES)).min(1),
  at: z.iso.datetime(),
});

/** One analytics update. */
export type AnalyticsUpdate = z.infer<typeof analyticsUpdateSchema>;

/** Channel of analytics updates: `<keyPrefix>:analytics:update`, so deployments sharing a Redis stay apart. */
export function analyticsUpdateChannel(keyPrefix: string): string {
  return `${keyPrefix}:analytics:update`;
}
