import { z } from "zod";
import { ANALYTICS_TYPES } from "../analytics/analytics-catalog.ts";

/**
 * The `analytics:update` event, published on Redis pub/sub so every API instance can push it to subscribed
 * WebSockets: after an invalidation (which analytics changed), and after the recompute that follows it with the
 * fresh result of one analytic (`analytic` and `data`, or `version` and `refetch: true` for a result too big to inline).
 */

/** Payload of an analytics update: which analytics of which guild changed, when (ISO 8601), and maybe the new result. */
export const analyticsUpdateSchema = z.object({
  guildId: z.string().regex(/^\d{1,20}$/),
  types: z.array(z.enum(ANALYTICS_TYPES)).min(1),
  at: z.iso.datetime(),
  /** With a fresh result: the analytic it is (also the only entry of `types`; not `type`, which names the WebSocket frame). */
  analytic: z.enum(ANALYTICS_TYPES).optional(),
  /** The fresh result, as `GET /api/analytics/<type>?guildId=` (default window and limit) answers it. */
  data: z.unknown().optional(),
  /** Instead of `data` for a large result: when it was computed; refetch it over HTTP. */
  version: z.string().optional(),
  refetch: z.literal(true).optional(),
});

/** One analytics update. */
export type AnalyticsUpdate = z.infer<typeof analyticsUpdateSchema>;

/** Channel of analytics updates: `<keyPrefix>:analytics:update`, so deployments sharing a Redis stay apart. */
export function analyticsUpdateChannel(keyPrefix: string): string {
  return `${keyPrefix}:analytics:update`;
}
