import type { PrismaClient } from "../db/prisma-client.ts";
import { toPage, type AnalyticsPage } from "./analytics-page.ts";
import type { AnalyticsQuery, BehaviorShiftItem, GhostItem } from "./analytics-types.ts";
import { previousWindow } from "./analytics-window.ts";
import { ghostsResultSql, heatmapResultSql, shiftsResultSql } from "./result-sql.ts";

/** One (channel, hour of day) cell of the heatmap, for the `limit` busiest channels. */
export interface HeatmapCellRow {
  channelId: string;
  hour: number;
  messageCount: number;
  typingCount: number;
}

/** A user who deleted messages in the window: deletions, messages posted, and deletions per message posted. */
export interface DeletionItem {
  userId: string;
  deletedCount: number;
  messageCount: number;
  /** deletedCount / max(messageCount, 1). */
  deletionRatio: number;
}

/**
 * Data access for analytics built on messages, typing and deletions (ghosts, heatmap, shifts, deletions). Every query is a
 * parameterised tagged template over the (guild_id, time) and (guild_id, user_id, time) indexes; windows are
 * half-open [since, until).
 */
export class ActivityRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** Users who typed in the window, with their message counts, highest ghost score first. */
  async ghosts(q: AnalyticsQuery): Promise<AnalyticsPage<GhostItem>> {
    const rows = await this.prisma.$queryRaw<(GhostItem & { total: number })[]>`
      WITH typing AS (
        SELECT user_id, count(*)::int AS typing_count
          FROM typing_events
         WHERE guild_id = ${q.guildId} AND started_at >= ${q.since}::timestamptz AND started_at < ${q.until}::timestamptz
         GROUP BY user_id
      ), messages AS (
        SELECT user_id, count(*)::int AS message_count
          FROM message_events
         WHERE guild_id = ${q.guildId} AND created_at >= ${q.since}::timestamptz AND created_at < ${q.until}::timestamptz
           AND user_id IN (SELECT user_id FROM typing)
         GROUP BY user_id
      ), scored AS (
        SELECT t.user_id, t.typing_count, coalesce(m.message_count, 0) AS message_count,
               t.typing_count::float8 / (coalesce(m.message_count, 0) + 1) AS ghost_score
          FROM typing t LEFT JOIN messages m USING (user_id)
      )
      ${ghostsResultSql(q.limit)}`;
    return toPage(rows);
  }

  /** Message and typing counts per channel and UTC hour of day, for the `limit` busiest channels. */
  async heatmapCells(q: AnalyticsQuery): Promise<AnalyticsPage<HeatmapCellRow>> {
    const rows = await this.prisma.$queryRaw<(HeatmapCellRow & { total: number })[]>`
      WITH cells AS (
        SELECT channel_id, extract(hour FROM created_at AT TIME ZONE 'UTC')::int AS hour,
               count(*)::int AS messages, 0 AS typing
          FROM message_events
         WHERE guild_id = ${q.guildId} AND created_at >= ${q.since}::timestamptz AND created_at < ${q.until}::timestamptz
         GROUP BY 1, 2
        UNION ALL
        SELECT channel_id, extract(hour FROM started_at AT TIME ZONE 'UTC')::int AS hour,
               0 AS messages, count(*)::int AS typing
          FROM typing_events
         WHERE guild_id = ${q.guildId} AND started_at >= ${q.since}::timestamptz AND started_at < ${q.until}::timestamptz
         GROUP BY 1, 2
      ), per_cell AS (
        SELECT channel_id, hour, sum(messages)::int AS messages, sum(typing)::int AS typing FROM cells GROUP BY 1, 2
      ), ${heatmapResultSql(q.limit)}`;
    return toPage(rows);
  }

  /** Per user, messages and typing now and in the window before, with the shift flags; highest score first. */
  async shifts(q: AnalyticsQuery): Promise<AnalyticsPage<BehaviorShiftItem>> {
    const previousSince = previousWindow(q).since;
    const rows = await this.prisma.$queryRaw<(BehaviorShiftItem & { total: number; flaggedTotal: number })[]>`
      WITH m AS (
        SELECT user_id,
               (count(*) FILTER (WHERE created_at >= ${q.since}::timestamptz))::int AS now_count,
               (count(*) FILTER (WHERE created_at < ${q.since}::timestamptz))::int AS before_count
          FROM message_events
         WHERE guild_id = ${q.guildId} AND created_at >= ${previousSince}::timestamptz AND created_at < ${q.until}::timestamptz
         GROUP BY user_id
      ), t AS (
        SELECT user_id,
               (count(*) FILTER (WHERE started_at >= ${q.since}::timestamptz))::int AS now_count,
               (count(*) FILTER (WHERE started_at < ${q.since}::timestamptz))::int AS before_count
          FROM typing_events
         WHERE guild_id = ${q.guildId} AND started_at >= ${previousSince}::timestamptz AND started_at < ${q.until}::timestamptz
         GROUP BY user_id
      ), joined AS (
        SELECT user_id, coalesce(m.now_count, 0) AS mc, coalesce(m.before_count, 0) AS mp,
               coalesce(t.now_count, 0) AS tc, coalesce(t.before_count, 0) AS tp
          FROM m FULL JOIN t USING (user_id)
      ), ${shiftsResultSql(q.limit, false)}`;
    return toPage(rows);
  }

  /**
   * Users with attributable message deletions in the window (the author is known: the bot had the message cached),
   * with their messages posted in it; most deletions first, then the highest ratio.
   */
  async deletions(q: AnalyticsQuery): Promise<AnalyticsPage<DeletionItem>> {
    const rows = await this.prisma.$queryRaw<(DeletionItem & { total: number })[]>`
      WITH deleted AS (
        SELECT user_id, count(*)::int AS deleted_count
          FROM message_delete_events
         WHERE guild_id = ${q.guildId} AND deleted_at >= ${q.since}::timestamptz AND deleted_at < ${q.until}::timestamptz
           AND user_id IS NOT NULL
         GROUP BY user_id
      ), posted AS (
        SELECT user_id, count(*)::int AS message_count
          FROM message_events
         WHERE guild_id = ${q.guildId} AND created_at >= ${q.since}::timestamptz AND created_at < ${q.until}::timestamptz
           AND user_id IN (SELECT user_id FROM deleted)
         GROUP BY user_id
      ), scored AS (
        SELECT d.user_id, d.deleted_count, coalesce(p.message_count, 0) AS message_count,
               d.deleted_count::float8 / greatest(coalesce(p.message_count, 0), 1) AS deletion_ratio
          FROM deleted d LEFT JOIN posted p USING (user_id)
      )
      SELECT user_id AS "userId", deleted_count AS "deletedCount", message_count AS "messageCount",
             deletion_ratio AS "deletionRatio", (count(*) OVER ())::int AS "total"
        FROM scored
       ORDER BY deleted_count DESC, deletion_ratio DESC, user_id ASC
       LIMIT ${q.limit}`;
    return toPage(rows);
  }
}
