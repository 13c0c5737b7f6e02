import type { PrismaClient } from "../db/prisma-client.ts";
import { toPage, type AnalyticsPage } from "./analytics-page.ts";
import { ROLE_FLAG_MIN_CHANGES } from "./analytics-rules.ts";
import type { AnalyticsQuery } from "./analytics-types.ts";

/** One user's role changes in the window, as read from the database. */
export interface RoleDriftRow {
  userId: string;
  addedCount: number;
  removedCount: number;
  roleChangeCount: number;
  lastChangeAt: Date;
}

/** Data access for role drift: role changes of one guild in a window. */
export class RoleRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** Per user, roles added and removed in the window, most changes first. */
  async roleDrift(q: AnalyticsQuery): Promise<AnalyticsPage<RoleDriftRow>> {
    const rows = await this.prisma.$queryRaw<(RoleDriftRow & { total: number; flaggedTotal: number })[]>`
      WITH per_user AS (
        SELECT user_id,
               (count(*) FILTER (WHERE action = 'added'))::int AS added,
               (count(*) FILTER (WHERE action = 'removed'))::int AS removed,
               count(*)::int AS changes,
               max(created_at) AS last_change_at
          FROM role_change_events
         WHERE guild_id = ${q.guildId} AND created_at >= ${q.since}::timestamptz AND created_at < ${q.until}::timestamptz
         GROUP BY user_id
      )
      SELECT user_id AS "userId", added AS "addedCount", removed AS "removedCount", changes AS "roleChangeCount",
             last_change_at AS "lastChangeAt",
             (count(*) OVER ())::int AS "total",
             (count(*) FILTER (WHERE changes >= ${ROLE_FLAG_MIN_CHANGES}) OVER ())::int AS "flaggedTotal"
        FROM per_user
       ORDER BY changes DESC, last_change_at DESC, user_id ASC
       LIMIT ${q.limit}`;
    return toPage(rows);
  }
}
