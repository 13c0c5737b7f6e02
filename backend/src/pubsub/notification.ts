import { z } from "zod";

/**
 * The `notification` event: published on Redis pub/sub by `PubSubService.publishNotification` (one user) or
 * `publishAdminNotification` (every admin), so the instance holding the recipient's WebSockets delivers it.
 */

/** Payload of a notification: its recipients, the notification itself (any JSON object), and when it was sent. */
export const notificationMessageSchema = z.object({
  to: z.union([z.object({ userId: z.string().min(1).max(200) }), z.object({ admins: z.literal(true) })]),
  notification: z.record(z.string(), z.unknown()),
  at: z.iso.datetime(),
});

/** One notification message. */
export type NotificationMessage = z.infer<typeof notificationMessageSchema>;

/** Channel of notifications: `<keyPrefix>:notifications`, so deployments sharing a Redis stay apart. */
export function notificationChannel(keyPrefix: string): string {
  return `${keyPrefix}:notifications`;
}
