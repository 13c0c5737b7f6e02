import { Prisma } from "../../generated/prisma/client.ts";
import { column, defineEventKind } from "./event-kind-definition.ts";

/** A message posted in a guild text channel by a human (table message_events). */
export interface MessageRecord {
  kind: "message";
  messageId: string;
  guildId: string;
  channelId: string;
  userId: string;
  contentLength: number;
  createdAt: Date;
}

/** Messages: message_id is unique, so ON CONFLICT also keeps a message Discord delivers twice (in two batches) single. */
export const messageKind = defineEventKind<MessageRecord>({
  table: "message_events",
  dateFields: { createdAt: true },
  guardedInsert: (rows) => Prisma.sql`
    INSERT INTO message_events (message_id, guild_id, channel_id, user_id, content_length, created_at)
    SELECT * FROM unnest(
      ${column(rows, (r) => r.messageId)}::text[], ${column(rows, (r) => r.guildId)}::text[],
      ${column(rows, (r) => r.channelId)}::text[], ${column(rows, (r) => r.userId)}::text[],
      ${column(rows, (r) => r.contentLength)}::int[], ${column(rows, (r) => r.createdAt)}::timestamptz[])
    WHERE EXISTS (SELECT 1 FROM marker)
    ON CONFLICT (message_id) DO NOTHING
    RETURNING 1`,
});
