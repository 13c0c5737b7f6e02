import { Prisma } from "../../generated/prisma/client.ts";
import { column, defineEventKind } from "./event-kind-definition.ts";

/** A message deletion; `userId` is null when the bot had not cached the message (table message_delete_events). */
export interface MessageDeleteRecord {
  kind: "messageDelete";
  messageId: string;
  guildId: string;
  channelId: string;
  userId: string | null;
  deletedAt: Date;
}

/** Message deletions. */
export const messageDeleteKind = defineEventKind<MessageDeleteRecord>({
  table: "message_delete_events",
  dateFields: { deletedAt: true },
  guardedInsert: (rows) => Prisma.sql`
    INSERT INTO message_delete_events (message_id, guild_id, channel_id, user_id, deleted_at)
    SELECT * FROM unnest(
      ${column(rows, (r) => r.messageId)}::text[], ${column(rows, (r) => r.guildId)}::text[],
      ${column(rows, (r) => r.channelId)}::text[], ${column(rows, (r) => r.userId)}::text[],
      ${column(rows, (r) => r.deletedAt)}::timestamptz[])
    WHERE EXISTS (SELECT 1 FROM marker)
    RETURNING 1`,
});
