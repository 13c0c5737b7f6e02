import type { PrismaClient } from "../db/prisma-client.ts";
import type { ClientPlatform, IngestEvent, IngestEventKind } from "../ingest/event-records.ts";

/** One page of stored events of one kind, with the id to continue after. */
export interface EventPage {
  events: IngestEvent[];
  /** Id of the last row (pass as `afterId` for the next page); undefined when the page was empty. */
  lastId: bigint | undefined;
}

/** Reads stored events back as records, page by page, for `spywatcher activity rebuild`. The only Prisma of activity. */
export interface ActivityRebuildRepository {
  /** Events of `kind` in `guildId` at or after `since`, with row id > `afterId`, in id order, at most `limit`. */
  page(kind: IngestEventKind, guildId: string, since: Date, afterId: bigint, limit: number): Promise<EventPage>;
}

type Row = Record<string, unknown> & { id: bigint };

/** Builds the repository on Prisma (raw SQL, keyset pagination on each table's id). */
export function createActivityRebuildRepository(prisma: PrismaClient): ActivityRebuildRepository {
  const readers = {
    message: (g, since, after, limit) =>
      prisma.$queryRaw<Row[]>`
      SELECT id, message_id, channel_id, user_id, content_length, created_at FROM message_events
      WHERE guild_id = ${g} AND created_at >= ${since} AND id > ${after} ORDER BY id LIMIT ${limit}`.then((rows) =>
        rows.map((r) => ({
          id: r.id,
          event: {
            kind: "message",
            messageId: String(r.message_id),
            guildId: g,
            channelId: String(r.channel_id),
            userId: String(r.user_id),
            contentLength: Number(r.content_length),
            createdAt: r.created_at as Date,
          } as const,
        })),
      ),
    messageDelete: (g, since, after, limit) =>
      prisma.$queryRaw<Row[]>`
      SELECT id, message_id, channel_id, user_id, deleted_at FROM message_delete_events
      WHERE guild_id = ${g} AND deleted_at >= ${since} AND id > ${after} ORDER BY id LIMIT ${limit}`.then((rows) =>
        rows.map((r) => ({
          id: r.id,
          event: {
            kind: "messageDelete",
            messageId: String(r.message_id),
            guildId: g,
            channelId: String(r.channel_id),
            userId: r.user_id === null ? null : String(r.user_id),
            deletedAt: r.deleted_at as Date,
          } as const,
        })),
      ),
    typing: (g, since, after, limit) =>
      prisma.$queryRaw<Row[]>`
      SELECT id, channel_id, user_id, started_at FROM typing_events
      WHERE guild_id = ${g} AND started_at >= ${since} AND id > ${after} ORDER BY id LIMIT ${limit}`.then((rows) =>
        rows.map((r) => ({
          id: r.id,
          event: {
            kind: "typing",
            guildId: g,
            channelId: String(r.channel_id),
            userId: String(r.user_id),
            startedAt: r.started_at as Date,
          } as const,
        })),
      ),
    presence: (g, since, after, limit) =>
      prisma.$queryRaw<Row[]>`
      SELECT id, user_id, status, platforms, created_at FROM presence_events
      WHERE guild_id = ${g} AND created_at >= ${since} AND id > ${after} ORDER BY id LIMIT ${limit}`.then((rows) =>
        rows.map((r) => ({
          id: r.id,
          event: {
            kind: "presence",
            guildId: g,
            userId: String(r.user_id),
            status: String(r.status),
            platforms: (r.platforms as ClientPlatform[]) ?? [],
            createdAt: r.created_at as Date,
          } as const,
        })),
      ),
    roleChange: (g, since, after, limit) =>
      prisma.$queryRaw<Row[]>`
      SELECT id, user_id, role_id, role_name, action, created_at FROM role_change_events
      WHERE guild_id = ${g} AND created_at >= ${since} AND id > ${after} ORDER BY id LIMIT ${limit}`.then((rows) =>
        rows.map((r) => ({
          id: r.id,
          event: {
            kind: "roleChange",
            guildId: g,
            userId: String(r.user_id),
            roleId: String(r.role_id),
            roleName: String(r.role_name),
            action: r.action as "added" | "removed",
            createdAt: r.created_at as Date,
          } as const,
        })),
      ),
    memberJoin: (g, since, after, limit) =>
      prisma.$queryRaw<Row[]>`
      SELECT id, user_id, account_created_at, account_age_days, joined_at FROM member_join_events
      WHERE guild_id = ${g} AND joined_at >= ${since} AND id > ${after} ORDER BY id LIMIT ${limit}`.then((rows) =>
        rows.map((r) => ({
          id: r.id,
          event: {
            kind: "memberJoin",
            guildId: g,
            userId: String(r.user_id),
            accountCreatedAt: r.account_created_at as Date,
            accountAgeDays: Number(r.account_age_days),
            joinedAt: r.joined_at as Date,
          } as const,
        })),
      ),
  } satisfies {
    [K in IngestEventKind]: (
      guildId: string,
      since: Date,
      afterId: bigint,
      limit: number,
    ) => Promise<{ id: bigint; event: IngestEvent }[]>;
  };

  return {
    async page(kind, guildId, since, afterId, limit) {
      const rows = await readers[kind](guildId, since, afterId, limit);
      return { events: rows.map((row) => row.event), lastId: rows.at(-1)?.id };
    },
  };
}
