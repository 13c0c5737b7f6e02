import { Prisma } from "../generated/prisma/client.ts";
import type { IngestEventKind, IngestEventOf } from "./event-records.ts";

const column = <T, V>(records: T[], pick: (record: T) => V): V[] => records.map(pick);

/**
 * The `INSERT INTO <table> ... SELECT FROM unnest(...)` of one batch, one array parameter per column, guarded by
 * `WHERE EXISTS (SELECT 1 FROM marker)`: it must be embedded in a statement that defines the `marker` CTE
 * (see ingest-repository.ts), so the rows go in only when the batch id was not stored before. Ends in
 * `RETURNING 1` so the enclosing statement can count the rows inserted. Every value is a bound parameter.
 */
export function guardedInsertSql<K extends IngestEventKind>(kind: K, records: IngestEventOf<K>[]): Prisma.Sql {
  switch (kind) {
    case "message": {
      const rows = records as IngestEventOf<"message">[];
      // message_id is unique: ON CONFLICT also keeps a message Discord delivers twice (in two batches) single.
      return Prisma.sql`
        INSERT INTO message_events (message_id, guild_id, channel_id, user_id, content_length, created_at)
        SELECT * FROM unnest(
          ${column(rows, (r) => r.messageId)}::text[], ${column(rows, (r) => r.guildId)}::text[],
          ${column(rows, (r) => r.channelId)}::text[], ${column(rows, (r) => r.userId)}::text[],
          ${column(rows, (r) => r.contentLength)}::int[], ${column(rows, (r) => r.createdAt)}::timestamptz[])
        WHERE EXISTS (SELECT 1 FROM marker)
        ON CONFLICT (message_id) DO NOTHING
        RETURNING 1`;
    }
    case "messageDelete": {
      const rows = records as IngestEventOf<"messageDelete">[];
      return Prisma.sql`
        INSERT INTO message_delete_events (message_id, guild_id, channel_id, user_id, deleted_at)
        SELECT * FROM unnest(
          ${column(rows, (r) => r.messageId)}::text[], ${column(rows, (r) => r.guildId)}::text[],
          ${column(rows, (r) => r.channelId)}::text[], ${column(rows, (r) => r.userId)}::text[],
          ${column(rows, (r) => r.deletedAt)}::timestamptz[])
        WHERE EXISTS (SELECT 1 FROM marker)
        RETURNING 1`;
    }
    case "typing": {
      const rows = records as IngestEventOf<"typing">[];
      return Prisma.sql`
        INSERT INTO typing_events (guild_id, channel_id, user_id, started_at)
        SELECT * FROM unnest(
          ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.channelId)}::text[],
          ${column(rows, (r) => r.userId)}::text[], ${column(rows, (r) => r.startedAt)}::timestamptz[])
        WHERE EXISTS (SELECT 1 FROM marker)
        RETURNING 1`;
    }
    case "presence": {
      const rows = records as IngestEventOf<"presence">[];
      // unnest cannot yield one array per row from a 2-D array (it flattens), so each row's platforms travel
      // as one comma-joined string ("desktop,web"; platform names hold no commas) and are split back in SQL.
      return Prisma.sql`
        INSERT INTO presence_events (guild_id, user_id, status, platforms, created_at)
        SELECT guild_id, user_id, status, string_to_array(platforms, ','), created_at FROM unnest(
          ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.userId)}::text[],
          ${column(rows, (r) => r.status)}::text[], ${column(rows, (r) => r.platforms.join(","))}::text[],
          ${column(rows, (r) => r.createdAt)}::timestamptz[]) AS p(guild_id, user_id, status, platforms, created_at)
        WHERE EXISTS (SELECT 1 FROM marker)
        RETURNING 1`;
    }
    case "roleChange": {
      const rows = records as IngestEventOf<"roleChange">[];
      return Prisma.sql`
        INSERT INTO role_change_events (guild_id, user_id, role_id, role_name, action, created_at)
        SELECT * FROM unnest(
          ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.userId)}::text[],
          ${column(rows, (r) => r.roleId)}::text[], ${column(rows, (r) => r.roleName)}::text[],
          ${column(rows, (r) => r.action)}::text[], ${column(rows, (r) => r.createdAt)}::timestamptz[])
        WHERE EXISTS (SELECT 1 FROM marker)
        RETURNING 1`;
    }
    case "memberJoin": {
      const rows = records as IngestEventOf<"memberJoin">[];
      return Prisma.sql`
        INSERT INTO member_join_events (guild_id, user_id, account_created_at, account_age_days, joined_at)
        SELECT * FROM unnest(
          ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.userId)}::text[],
          ${column(rows, (r) => r.accountCreatedAt)}::timestamptz[], ${column(rows, (r) => r.accountAgeDays)}::int[],
          ${column(rows, (r) => r.joinedAt)}::timestamptz[])
        WHERE EXISTS (SELECT 1 FROM marker)
        RETURNING 1`;
    }
  }
  throw new Error(`unknown ingest event kind: ${String(kind)}`);
}
