import { z } from "zod";

/**
 * The `activity:live` message: a guild's live counters, published on Redis pub/sub (at most once per
 * ACTIVITY_LIVE_PUSH_INTERVAL_MS per guild) so every API instance pushes them to that guild's WebSockets.
 */
export const liveCountersSchema = z.object({
  guildId: z.string().regex(/^\d{1,20}$/),
  at: z.iso.datetime(),
  online: z.object({
    total: z.number().int(),
    desktop: z.number().int(),
    mobile: z.number().int(),
    web: z.number().int(),
  }),
  typingNow: z.number().int(),
  messagesThisMinute: z.number().int(),
});

/** One `activity:live` message. */
export type LiveCountersMessage = z.infer<typeof liveCountersSchema>;

/** Channel of live counters: `<keyPrefix>:activity:live`. */
export function liveCountersChannel(keyPrefix: string): string {
  return `${keyPrefix}:activity:live`;
}
