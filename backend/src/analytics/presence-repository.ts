import type { PrismaClient } from "../db/prisma-client.ts";
import { toPage, type AnalyticsPage } from "./analytics-page.ts";
import { CLIENT_PLATFORMS } from "./analytics-rules.ts";
import type { AnalyticsQuery, ClientDriftItem } from "./analytics-types.ts";
import { previousWindow } from "./analytics-window.ts";
import { lurkersResultSql } from "./result-sql.ts";

/** A lurker as read from the database (lastSeenAt still a Date). */
export interface LurkerRow {
  userId: string;
  presenceCount: number;
  lastSeenAt: Date;
}

/** Data access for analytics built on presence events (lurkers, client drift), always within one guild. */
export class PresenceRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** Users with presence events in the window and no message and no typing in it, most present first. */
  async lurkers(q: AnalyticsQuery): Promise<AnalyticsPage<LurkerRow>> {
    const rows = await this.prisma.$queryRaw<(LurkerRow & { total: number; flaggedTotal: number })[]>`
      WITH presence AS (
        SELECT user_id, count(*)::int AS presence_count, max(created_at) AS last_seen_at
          FROM presence_events
         WHERE guild_id = ${q.guildId} AND created_at >= ${q.since}::timestamptz AND created_at < ${q.until}::timestamptz
         GROUP BY user_id
      ), silent AS (
        SELECT p.* FROM presence p
         WHERE NOT EXISTS (
                 SELECT 1 FROM message_events m
                  WHERE m.guild_id = ${q.guildId} AND m.user_id = p.user_id
                    AND m.created_at >= ${q.since}::timestamptz AND m.created_at < ${q.until}::timestamptz)
           AND NOT EXISTS (
                 SELECT 1 FROM typing_events t
                  WHERE t.guild_id = ${q.guildId} AND t.user_id = p.user_id
                    AND t.started_at >= ${q.since}::timestamptz AND t.started_at < ${q.until}::timestamptz)
      )
      ${lurkersResultSql(q.limit)}`;
    return toPage(rows);
  }

  /**
   * Per user seen in the window: the platforms of the window and of the window before, and the new ones.
   * A user seen only before the window is not listed; one seen now but only offline has no platforms.
   */
  async clientDrift(q: AnalyticsQuery): Promise<AnalyticsPage<ClientDriftItem>> {
    const previousSince = previousWindow(q).since;
    const platforms = [...CLIENT_PLATFORMS];
    const rows = await this.prisma.$queryRaw<(ClientDriftItem & { total: number; flaggedTotal: number })[]>`
      WITH seen AS (
        SELECT e.user_id, e.created_at >= ${q.since}::timestamptz AS is_now, p.platform
          FROM presence_events e
          LEFT JOIN LATERAL unnest(e.platforms) AS p(platform) ON p.platform = ANY(${platforms}::text[])
         WHERE e.guild_id = ${q.guildId} AND e.created_at >= ${previousSince}::timestamptz
           AND e.created_at < ${q.until}::timestamptz
      ), per_user AS (
        SELECT user_id,
               coalesce(array_agg(DISTINCT platform ORDER BY platform)
                          FILTER (WHERE is_now AND platform IS NOT NULL), '{}') AS platforms,
               coalesce(array_agg(DISTINCT platform ORDER BY platform)
                          FILTER (WHERE NOT is_now AND platform IS NOT NULL), '{}') AS previous_platforms
          FROM seen
         GROUP BY user_id
        HAVING bool_or(is_now)
      ), drift AS (
        SELECT *, ARRAY(SELECT x FROM unnest(platforms) AS x WHERE x <> ALL(previous_platforms) ORDER BY x) AS new_platforms
          FROM per_user
      )
      SELECT user_id AS "userId", platforms, previous_platforms AS "previousPlatforms",
             new_platforms AS "newPlatforms", cardinality(new_platforms) > 0 AS "flagged",
             (count(*) OVER ())::int AS "total",
             (count(*) FILTER (WHERE cardinality(new_platforms) > 0) OVER ())::int AS "flaggedTotal"
        FROM drift
       ORDER BY cardinality(new_platforms) DESC, user_id ASC
       LIMIT ${q.limit}`;
    return toPage(rows);
  }
}
