import type { PrismaClient } from "../db/prisma-client.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { HeatmapCellRow } from "./activity-repository.ts";
import { toPage, type AnalyticsPage } from "./analytics-page.ts";
import { CLIENT_PLATFORMS } from "./analytics-rules.ts";
import type { AnalyticsQuery, BehaviorShiftItem, ClientDriftItem, GhostItem } from "./analytics-types.ts";
import type { LurkerRow } from "./presence-repository.ts";
import { DAY_MS, HOUR_MS, previousWindow, splitWindow, type TimeWindow } from "./analytics-window.ts";
import { ghostsResultSql, heatmapResultSql, lurkersResultSql, shiftsResultSql } from "./result-sql.ts";
import { planAdditiveWindow, planTwoWindows, type RollupPlan } from "./rollup-plan.ts";

/** A UTC calendar date as `YYYY-MM-DD`, for comparing with the rollups' `day` column. */
const isoDay = (time: Date) => time.toISOString().slice(0, 10);

/** Raw rows of `table` in the two edge ranges of a split window (time column `column`). */
function edgeFilter(column: "created_at" | "started_at", split: ReturnType<typeof splitWindow>): Prisma.Sql {
  const col = Prisma.raw(column); // a fixed column name chosen in this file, never input
  return Prisma.sql`((${col} >= ${split.head.since}::timestamptz AND ${col} < ${split.head.until}::timestamptz)
    OR (${col} >= ${split.tail.since}::timestamptz AND ${col} < ${split.tail.until}::timestamptz))`;
}

/**
 * (user_id, is_now, messages, typing) rows whose sums per user are exact counts: the plan's rollup days, plus or
 * minus the raw events of its pieces. Each piece is its own SELECT with constant bounds, so each is one index
 * range scan (a join against an array of pieces made the planner scan the whole table).
 */
function activityContributions(guildId: string, plan: RollupPlan): Prisma.Sql {
  const nowDays = plan.days.filter((piece) => piece.isNow).map((piece) => piece.day);
  const beforeDays = plan.days.filter((piece) => !piece.isNow).map((piece) => piece.day);
  const parts = [
    Prisma.sql`SELECT user_id, day = ANY(${nowDays}::date[]) AS is_now, messages, typing FROM user_activity_daily
      WHERE guild_id = ${guildId} AND (day = ANY(${nowDays}::date[]) OR day = ANY(${beforeDays}::date[]))`,
  ];
  for (const piece of plan.raw) {
    parts.push(
      Prisma.sql`SELECT user_id, ${piece.isNow}::boolean, ${piece.sign}::int, 0 FROM message_events
        WHERE guild_id = ${guildId} AND created_at >= ${piece.since}::timestamptz AND created_at < ${piece.until}::timestamptz`,
      Prisma.sql`SELECT user_id, ${piece.isNow}::boolean, 0, ${piece.sign}::int FROM typing_events
        WHERE guild_id = ${guildId} AND started_at >= ${piece.since}::timestamptz AND started_at < ${piece.until}::timestamptz`,
    );
  }
  return Prisma.join(parts, " UNION ALL ");
}

/**
 * Rollup and raw rows of a window and the equally long window before it, read in one pass, with `is_now` saying
 * which window a row belongs to (half the work of reading the two windows apart). `columns` picks the rollup's
 * value columns and the raw rows' constants, e.g. `messages, typing` and `1, 0`.
 */
function twoWindowRows(
  guildId: string,
  window: TimeWindow,
  source: {
    rollup: "user_presence_daily";
    rollupColumns: Prisma.Sql;
    raw: { table: "presence_events"; column: "created_at"; values: Prisma.Sql }[];
  },
): Prisma.Sql {
  const now = splitWindow(window, DAY_MS);
  const before = splitWindow(previousWindow(window), DAY_MS);
  const nowFrom = isoDay(now.whole.since);
  const rollup = Prisma.raw(source.rollup); // fixed table names chosen in this file, never input
  const parts = [
    Prisma.sql`SELECT user_id, day >= ${nowFrom}::date AS is_now, ${source.rollupColumns} FROM ${rollup}
      WHERE guild_id = ${guildId}
        AND ((day >= ${isoDay(before.whole.since)}::date AND day < ${isoDay(before.whole.until)}::date)
          OR (day >= ${nowFrom}::date AND day < ${isoDay(now.whole.until)}::date))`,
    ...source.raw.map(({ table, column, values }) => {
      const col = Prisma.raw(column);
      return Prisma.sql`SELECT user_id, ${col} >= ${window.since}::timestamptz AS is_now, ${values} FROM ${Prisma.raw(table)}
        WHERE guild_id = ${guildId} AND (${edgeFilter(column, before)} OR ${edgeFilter(column, now)})`;
    }),
  ];
  return Prisma.join(parts, " UNION ALL ");
}

/** No row of `table` for the outer query's user in `range` (an index probe on guild, user, time). */
function noEventIn(
  table: "message_events" | "typing_events",
  column: "created_at" | "started_at",
  guildId: string,
  range: TimeWindow,
): Prisma.Sql {
  if (range.since.getTime() >= range.until.getTime()) return Prisma.sql`TRUE`;
  const col = Prisma.raw(column); // fixed names chosen in this file, never input
  return Prisma.sql`NOT EXISTS (SELECT 1 FROM ${Prisma.raw(table)} e WHERE e.guild_id = ${guildId} AND e.user_id = p.user_id
    AND e.${col} >= ${range.since}::timestamptz AND e.${col} < ${range.until}::timestamptz)`;
}

/** The platforms of a mask, alphabetically (the bit order is already alphabetical). */
function platformsOf(mask: number): string[] {
  return CLIENT_PLATFORMS.filter((_, bit) => (mask & (1 << bit)) !== 0);
}

/**
 * The analytics that read many events (ghosts, heatmap, shifts, clients), computed from the rollup tables of
 * the rollup tables (migration `20261122020000_analytics_rollups`) (whole UTC days or hours) plus the raw events at the window's edges. Same results as
 * the raw repositories, in a fraction of the rows.
 */
export class RollupRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** Same contract as ActivityRepository.ghosts. */
  async ghosts(q: AnalyticsQuery): Promise<AnalyticsPage<GhostItem>> {
    const rows = await this.prisma.$queryRaw<(GhostItem & { total: number })[]>`
      WITH per_user AS (
        SELECT user_id, sum(messages)::int AS message_count, sum(typing)::int AS typing_count
          FROM (${activityContributions(q.guildId, planAdditiveWindow(q, true))}) AS a GROUP BY user_id
      ), scored AS (
        SELECT *, typing_count::float8 / (message_count + 1) AS ghost_score FROM per_user WHERE typing_count > 0
      )
      ${ghostsResultSql(q.limit)}`;
    return toPage(rows);
  }

  /**
   * Same contract as PresenceRepository.lurkers: presence counts and last-seen times from the presence rollups
   * (issue 8: aggregating 1.5 million raw presence events of 200 users took about 1.7 s). Silence stays one index probe per present user into the
   * messages and typing of the window (`(guild_id, user_id, time)`: it stops at the first row, whatever the window).
   */
  async lurkers(q: AnalyticsQuery): Promise<AnalyticsPage<LurkerRow>> {
    // Whole days from the daily rollup, whole hours of the two partial days from the hourly one, raw events for
    // the partial hours: the fewest rows whatever the guild's density.
    const days = splitWindow(q, DAY_MS);
    const head = splitWindow(days.head, HOUR_MS);
    const tail = splitWindow(days.tail, HOUR_MS);
    const hourly = (
      range: TimeWindow,
    ) => Prisma.sql`SELECT user_id, presence_count, last_seen_at FROM user_presence_hourly
      WHERE guild_id = ${q.guildId} AND hour >= ${range.since}::timestamptz AND hour < ${range.until}::timestamptz`;
    const raw = (split: ReturnType<typeof splitWindow>) => Prisma.sql`SELECT user_id, 1, created_at FROM presence_events
      WHERE guild_id = ${q.guildId} AND ${edgeFilter("created_at", split)}`;
    const rows = await this.prisma.$queryRaw<(LurkerRow & { total: number; flaggedTotal: number })[]>`
      WITH presence AS (
        SELECT user_id, sum(n)::int AS presence_count, max(seen) AS last_seen_at FROM (
          SELECT user_id, presence_count AS n, last_seen_at AS seen FROM user_presence_daily
           WHERE guild_id = ${q.guildId} AND day >= ${isoDay(days.whole.since)}::date AND day < ${isoDay(days.whole.until)}::date
          UNION ALL ${hourly(head.whole)} UNION ALL ${hourly(tail.whole)} UNION ALL ${raw(head)} UNION ALL ${raw(tail)}
        ) AS p GROUP BY user_id
      ), silent AS (
        SELECT p.* FROM presence p
         WHERE ${noEventIn("message_events", "created_at", q.guildId, q)}
           AND ${noEventIn("typing_events", "started_at", q.guildId, q)}
      )
      ${lurkersResultSql(q.limit)}`;
    return toPage(rows);
  }

  /** Same contract as ActivityRepository.heatmapCells (whole hours from the hourly channel rollup). */
  async heatmapCells(q: AnalyticsQuery): Promise<AnalyticsPage<HeatmapCellRow>> {
    const split = splitWindow(q, HOUR_MS);
    const rows = await this.prisma.$queryRaw<(HeatmapCellRow & { total: number })[]>`
      WITH cells AS (
        SELECT channel_id, extract(hour FROM hour AT TIME ZONE 'UTC')::int AS hour, messages, typing
          FROM channel_activity_hourly
         WHERE guild_id = ${q.guildId} AND hour >= ${split.whole.since}::timestamptz AND hour < ${split.whole.until}::timestamptz
        UNION ALL
        SELECT channel_id, extract(hour FROM created_at AT TIME ZONE 'UTC')::int, 1, 0
          FROM message_events WHERE guild_id = ${q.guildId} AND ${edgeFilter("created_at", split)}
        UNION ALL
        SELECT channel_id, extract(hour FROM started_at AT TIME ZONE 'UTC')::int, 0, 1
          FROM typing_events WHERE guild_id = ${q.guildId} AND ${edgeFilter("started_at", split)}
      ), per_cell AS (
        SELECT channel_id, hour, sum(messages)::int AS messages, sum(typing)::int AS typing
          FROM cells GROUP BY 1, 2 HAVING sum(messages) + sum(typing) > 0
      ), ${heatmapResultSql(q.limit)}`;
    return toPage(rows);
  }

  /** Same contract as ActivityRepository.shifts. */
  async shifts(q: AnalyticsQuery): Promise<AnalyticsPage<BehaviorShiftItem>> {
    const rows = await this.prisma.$queryRaw<(BehaviorShiftItem & { total: number; flaggedTotal: number })[]>`
      WITH joined AS (
        SELECT user_id,
               coalesce(sum(messages) FILTER (WHERE is_now), 0)::int AS mc,
               coalesce(sum(messages) FILTER (WHERE NOT is_now), 0)::int AS mp,
               coalesce(sum(typing) FILTER (WHERE is_now), 0)::int AS tc,
               coalesce(sum(typing) FILTER (WHERE NOT is_now), 0)::int AS tp
          FROM (${activityContributions(q.guildId, planTwoWindows(q, previousWindow(q)))}) AS a
         GROUP BY user_id
      ), ${shiftsResultSql(q.limit, true)}`;
    return toPage(rows);
  }

  /** Same contract as PresenceRepository.clientDrift, on platform bit masks. */
  async clientDrift(q: AnalyticsQuery): Promise<AnalyticsPage<ClientDriftItem>> {
    const rows = await this.prisma.$queryRaw<
      { userId: string; nowMask: number; beforeMask: number; total: number; flaggedTotal: number }[]
    >`
      WITH masks AS (
        SELECT user_id,
               coalesce(bit_or(mask) FILTER (WHERE is_now), 0) AS now_mask,
               coalesce(bit_or(mask) FILTER (WHERE NOT is_now), 0) AS before_mask
          FROM (${twoWindowRows(q.guildId, q, {
            rollup: "user_presence_daily",
            rollupColumns: Prisma.sql`platform_mask AS mask`,
            raw: [
              {
                table: "presence_events",
                column: "created_at",
                values: Prisma.sql`analytics_platform_mask(platforms)`,
              },
            ],
          })}) AS p
         GROUP BY user_id
        HAVING bool_or(is_now)
      ), drift AS (
        SELECT *, now_mask & ~before_mask AS new_mask FROM masks
      )
      SELECT user_id AS "userId", now_mask AS "nowMask", before_mask AS "beforeMask",
             (count(*) OVER ())::int AS "total",
             (count(*) FILTER (WHERE new_mask <> 0) OVER ())::int AS "flaggedTotal"
        FROM drift
       ORDER BY (new_mask & 1) + (new_mask >> 1 & 1) + (new_mask >> 2 & 1) DESC, user_id ASC
       LIMIT ${q.limit}`;
    const page = toPage(rows);
    return {
      ...page,
      rows: page.rows.map(({ userId, nowMask, beforeMask }) => ({
        userId,
        platforms: platformsOf(nowMask),
        previousPlatforms: platformsOf(beforeMask),
        newPlatforms: platformsOf(nowMask & ~beforeMask),
        flagged: (nowMask & ~beforeMask) !== 0,
      })),
    };
  }
}
