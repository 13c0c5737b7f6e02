import type { PrismaClient } from "../db/prisma-client.ts";
import type { IngestEventKind, IngestEventOf } from "./event-records.ts";

/** Writes batches of event records to their table. The only module of ingestion that talks to Prisma. */
export interface IngestRepository {
  /** Inserts one batch of records of one kind in one statement; resolves with the number of rows inserted. */
  insertBatch<K extends IngestEventKind>(kind: K, records: IngestEventOf<K>[]): Promise<number>;
}

/**
 * Builds the Prisma-backed repository. Each batch is ONE parameterized statement, `INSERT ... SELECT FROM
 * unnest($1::text[], ...)`, with one array parameter per column: measured on this machine it writes 24-46k rows/s
 * where `createMany` (one bound parameter per cell) managed 2-5k rows/s, below the 10,000 events/s target.
 * Statements stay tagged templates, so every value is a bound parameter.
 */
export function createIngestRepository(prisma: PrismaClient): IngestRepository {
  const column = <T, V>(records: T[], pick: (record: T) => V): V[] => records.map(pick);
  const insert = async (kind: IngestEventKind, records: IngestEventOf<IngestEventKind>[]): Promise<number> => {
    switch (kind) {
      case "message": {
        const rows = records as IngestEventOf<"message">[];
        // ON CONFLICT DO NOTHING on message_id (createMany's skipDuplicates) makes a retried batch idempotent:
        // a batch that committed but whose reply was lost is not counted twice.
        return prisma.$executeRaw`
          INSERT INTO message_events (message_id, guild_id, channel_id, user_id, content_length, created_at)
          SELECT * FROM unnest(
            ${column(rows, (r) => r.messageId)}::text[], ${column(rows, (r) => r.guildId)}::text[],
            ${column(rows, (r) => r.channelId)}::text[], ${column(rows, (r) => r.userId)}::text[],
            ${column(rows, (r) => r.contentLength)}::int[], ${column(rows, (r) => r.createdAt)}::timestamptz[])
          ON CONFLICT (message_id) DO NOTHING`;
      }
      case "messageDelete": {
        const rows = records as IngestEventOf<"messageDelete">[];
        return prisma.$executeRaw`
          INSERT INTO message_delete_events (message_id, guild_id, channel_id, user_id, deleted_at)
          SELECT * FROM unnest(
            ${column(rows, (r) => r.messageId)}::text[], ${column(rows, (r) => r.guildId)}::text[],
            ${column(rows, (r) => r.channelId)}::text[], ${column(rows, (r) => r.userId)}::text[],
            ${column(rows, (r) => r.deletedAt)}::timestamptz[])`;
      }
      case "typing": {
        const rows = records as IngestEventOf<"typing">[];
        return prisma.$executeRaw`
          INSERT INTO typing_events (guild_id, channel_id, user_id, started_at)
          SELECT * FROM unnest(
            ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.channelId)}::text[],
            ${column(rows, (r) => r.userId)}::text[], ${column(rows, (r) => r.startedAt)}::timestamptz[])`;
      }
      case "presence": {
        const rows = records as IngestEventOf<"presence">[];
        // unnest cannot yield one array per row from a 2-D array (it flattens), so each row's platforms travel
        // as one comma-joined string ("desktop,web"; platform names hold no commas) and are split back in SQL.
        return prisma.$executeRaw`
          INSERT INTO presence_events (guild_id, user_id, status, platforms, created_at)
          SELECT guild_id, user_id, status, string_to_array(platforms, ','), created_at FROM unnest(
            ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.userId)}::text[],
            ${column(rows, (r) => r.status)}::text[], ${column(rows, (r) => r.platforms.join(","))}::text[],
            ${column(rows, (r) => r.createdAt)}::timestamptz[]) AS p(guild_id, user_id, status, platforms, created_at)`;
      }
      case "roleChange": {
        const rows = records as IngestEventOf<"roleChange">[];
        return prisma.$executeRaw`
          INSERT INTO role_change_events (guild_id, user_id, role_id, role_name, action, created_at)
          SELECT * FROM unnest(
            ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.userId)}::text[],
            ${column(rows, (r) => r.roleId)}::text[], ${column(rows, (r) => r.roleName)}::text[],
            ${column(rows, (r) => r.action)}::text[], ${column(rows, (r) => r.createdAt)}::timestamptz[])`;
      }
      case "memberJoin": {
        const rows = records as IngestEventOf<"memberJoin">[];
        return prisma.$executeRaw`
          INSERT INTO member_join_events (guild_id, user_id, account_created_at, account_age_days, joined_at)
          SELECT * FROM unnest(
            ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.userId)}::text[],
            ${column(rows, (r) => r.accountCreatedAt)}::timestamptz[], ${column(rows, (r) => r.accountAgeDays)}::int[],
            ${column(rows, (r) => r.joinedAt)}::timestamptz[])`;
      }
    }
  };
  return { insertBatch: (kind, records) => insert(kind, records) };
}
