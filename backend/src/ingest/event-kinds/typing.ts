import { Prisma } from "../../generated/prisma/client.ts";
import { column, defineEventKind } from "./event-kind-definition.ts";

/** A typing indicator (table typing_events). */
export interface TypingRecord {
  kind: "typing";
  guildId: string;
  channelId: string;
  userId: string;
  startedAt: Date;
}

/** Typing indicators. */
export const typingKind = defineEventKind<TypingRecord>({
  table: "typing_events",
  dateFields: { startedAt: true },
  guardedInsert: (rows) => Prisma.sql`
    INSERT INTO typing_events (guild_id, channel_id, user_id, started_at)
    SELECT * FROM unnest(
      ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.channelId)}::text[],
      ${column(rows, (r) => r.userId)}::text[], ${column(rows, (r) => r.startedAt)}::timestamptz[])
    WHERE EXISTS (SELECT 1 FROM marker)
    RETURNING 1`,
});
