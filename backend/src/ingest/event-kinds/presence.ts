import { Prisma } from "../../generated/prisma/client.ts";
import { column, defineEventKind } from "./event-kind-definition.ts";

/** A client platform a member can be present on. */
export type ClientPlatform = "desktop" | "mobile" | "web";

/** A presence change in one guild, with the platforms the user is on (table presence_events). */
export interface PresenceRecord {
  kind: "presence";
  guildId: string;
  userId: string;
  status: string;
  platforms: ClientPlatform[];
  createdAt: Date;
}

/**
 * Presence changes. unnest cannot yield one array per row from a 2-D array (it flattens), so each row's platforms
 * travel as one comma-joined string ("desktop,web"; platform names hold no commas) and are split back in SQL.
 */
export const presenceKind = defineEventKind<PresenceRecord>({
  table: "presence_events",
  dateFields: { createdAt: true },
  guardedInsert: (rows) => Prisma.sql`
    INSERT INTO presence_events (guild_id, user_id, status, platforms, created_at)
    SELECT guild_id, user_id, status, string_to_array(platforms, ','), created_at FROM unnest(
      ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.userId)}::text[],
      ${column(rows, (r) => r.status)}::text[], ${column(rows, (r) => r.platforms.join(","))}::text[],
      ${column(rows, (r) => r.createdAt)}::timestamptz[]) AS p(guild_id, user_id, status, platforms, created_at)
    WHERE EXISTS (SELECT 1 FROM marker)
    RETURNING 1`,
});
