import { Prisma } from "../generated/prisma/client.ts";
import { LURKER_FLAG_MIN_PRESENCE, TYPING_SPIKE_FACTOR, TYPING_SPIKE_MIN_BEFORE } from "./analytics-rules.ts";

/**
 * The result end of a shifts query, shared by the raw and the rollup source so the flags, score and order are
 * written once: follows a CTE `joined(user_id, mc, mp, tc, tp)` (messages and typing now / before) and a comma.
 * `onlyActive`: drop users with nothing in either window (a rollup sum can be 0; raw counts never are).
 */
export function shiftsResultSql(limit: number, onlyActive: boolean): Prisma.Sql {
  return Prisma.sql`flagged AS (
        SELECT *, (mp > 0 AND mc = 0) AS message_drop,
               (tc > ${TYPING_SPIKE_FACTOR} * tp AND tp >= ${TYPING_SPIKE_MIN_BEFORE}) AS typing_spike
          FROM joined${onlyActive ? Prisma.sql` WHERE mc + mp + tc + tp > 0` : Prisma.empty}
      )
      SELECT user_id AS "userId", mc AS "messageCount", mp AS "previousMessageCount",
             tc AS "typingCount", tp AS "previousTypingCount",
             message_drop AS "messageDrop", typing_spike AS "typingSpike",
             (message_drop::int + typing_spike::int) AS "score",
             (count(*) OVER ())::int AS "total",
             (count(*) FILTER (WHERE message_drop OR typing_spike) OVER ())::int AS "flaggedTotal"
        FROM flagged
       ORDER BY "score" DESC, mp DESC, user_id ASC
       LIMIT ${limit}`;
}

/**
 * The result end of a ghosts query (raw and rollup sources): follows a CTE `scored(user_id, typing_count,
 * message_count, ghost_score)` of users who typed in the window.
 */
export function ghostsResultSql(limit: number): Prisma.Sql {
  return Prisma.sql`SELECT user_id AS "userId", typing_count AS "typingCount", message_count AS "messageCount",
             ghost_score AS "ghostScore", (count(*) OVER ())::int AS "total"
        FROM scored
       ORDER BY ghost_score DESC, typing_count DESC, user_id ASC
       LIMIT ${limit}`;
}

/**
 * The result end of a lurkers query (raw and rollup sources): follows a CTE `silent(user_id, presence_count,
 * last_seen_at)` of present users with no message and no typing in the window.
 */
export function lurkersResultSql(limit: number): Prisma.Sql {
  return Prisma.sql`SELECT user_id AS "userId", presence_count AS "presenceCount", last_seen_at AS "lastSeenAt",
             (count(*) OVER ())::int AS "total",
             (count(*) FILTER (WHERE presence_count >= ${LURKER_FLAG_MIN_PRESENCE}) OVER ())::int AS "flaggedTotal"
        FROM silent
       ORDER BY presence_count DESC, last_seen_at DESC, user_id ASC
       LIMIT ${limit}`;
}

/**
 * The result end of a heatmap query (raw and rollup sources): follows a CTE `per_cell(channel_id, hour, messages,
 * typing)` and a comma; keeps the `limit` busiest channels, every hour of each.
 */
export function heatmapResultSql(limit: number): Prisma.Sql {
  return Prisma.sql`busiest AS (
        SELECT channel_id, sum(messages + typing) AS activity, (count(*) OVER ())::int AS total
          FROM per_cell GROUP BY channel_id
         ORDER BY activity DESC, channel_id ASC
         LIMIT ${limit}
      )
      SELECT c.channel_id AS "channelId", c.hour, c.messages AS "messageCount", c.typing AS "typingCount", b.total
        FROM per_cell c JOIN busiest b USING (channel_id)
       ORDER BY b.activity DESC, c.channel_id ASC, c.hour ASC`;
}
