import type { PrismaClient } from "../db/prisma-client.ts";
import { Prisma } from "../generated/prisma/client.ts";
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

/** Where one event kind is stored and how a row of it reads back as its record. */
interface StoredKind<K extends IngestEventKind> {
  table: string;
  /** The event-time column `since` applies to. */
  timeColumn: string;
  /** Columns besides `id`. */
  columns: string[];
  toEvent(row: Row, guildId: string): Extract<IngestEvent, { kind: K }>;
}

/** Every event kind's table (constant identifiers, never input), checked exhaustively by the compiler. */
const STORED_KINDS = {
  message: {
    table: "message_events",
    timeColumn: "created_at",
    columns: ["message_id", "channel_id", "user_id", "content_length", "created_at"],
    toEvent: (r, g) => ({
      kind: "message",
      messageId: String(r.message_id),
      guildId: g,
      channelId: String(r.channel_id),
      userId: String(r.user_id),
      contentLength: Number(r.content_length),
      createdAt: r.created_at as Date,
    }),
  },
  messageDelete: {
    table: "message_delete_events",
    timeColumn: "deleted_at",
    columns: ["message_id", "channel_id", "user_id", "deleted_at"],
    toEvent: (r, g) => ({
      kind: "messageDelete",
      messageId: String(r.message_id),
      guildId: g,
      channelId: String(r.channel_id),
      userId: r.user_id === null ? null : String(r.user_id),
      deletedAt: r.deleted_at as Date,
    }),
  },
  typing: {
    table: "typing_events",
    timeColumn: "started_at",
    columns: ["channel_id", "user_id", "started_at"],
    toEvent: (r, g) => ({
      kind: "typing",
      guildId: g,
      channelId: String(r.channel_id),
      userId: String(r.user_id),
      startedAt: r.started_at as Date,
    }),
  },
  presence: {
    table: "presence_events",
    timeColumn: "created_at",
    columns: ["user_id", "status", "platforms", "created_at"],
    toEvent: (r, g) => ({
      kind: "presence",
      guildId: g,
      userId: String(r.user_id),
      status: String(r.status),
      platforms: (r.platforms as ClientPlatform[]) ?? [],
      createdAt: r.created_at as Date,
    }),
  },
  roleChange: {
    table: "role_change_events",
    timeColumn: "created_at",
    columns: ["user_id", "role_id", "role_name", "action", "created_at"],
    toEvent: (r, g) => ({
      kind: "roleChange",
      guildId: g,
      userId: String(r.user_id),
      roleId: String(r.role_id),
      roleName: String(r.role_name),
      action: r.action as "added" | "removed",
      createdAt: r.created_at as Date,
    }),
  },
  memberJoin: {
    table: "member_join_events",
    timeColumn: "joined_at",
    columns: ["user_id", "account_created_at", "account_age_days", "joined_at"],
    toEvent: (r, g) => ({
      kind: "memberJoin",
      guildId: g,
      userId: String(r.user_id),
      accountCreatedAt: r.account_created_at as Date,
      accountAgeDays: Number(r.account_age_days),
      joinedAt: r.joined_at as Date,
    }),
  },
} satisfies { [K in IngestEventKind]: StoredKind<K> };

/** Builds the repository on Prisma (raw SQL, keyset pagination on each table's id). */
export function createActivityRebuildRepository(prisma: PrismaClient): ActivityRebuildRepository {
  return {
    async page(kind, guildId, since, afterId, limit) {
      const stored: StoredKind<IngestEventKind> = STORED_KINDS[kind];
      const time = Prisma.raw(stored.timeColumn);
      const rows = await prisma.$queryRaw<Row[]>`
        SELECT id, ${Prisma.raw(stored.columns.join(", "))} FROM ${Prisma.raw(stored.table)}
         WHERE guild_id = ${guildId} AND ${time} >= ${since} AND id > ${afterId} ORDER BY id LIMIT ${limit}`;
      return { events: rows.map((row) => stored.toEvent(row, guildId)), lastId: rows.at(-1)?.id };
    },
  };
}
