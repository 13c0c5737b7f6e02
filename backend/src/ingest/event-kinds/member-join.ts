import { Prisma } from "../../generated/prisma/client.ts";
import { column, defineEventKind } from "./event-kind-definition.ts";

/** A member joining, with the account's age at that moment (table member_join_events). */
export interface MemberJoinRecord {
  kind: "memberJoin";
  guildId: string;
  userId: string;
  accountCreatedAt: Date;
  accountAgeDays: number;
  joinedAt: Date;
}

/** Members joining. */
export const memberJoinKind = defineEventKind<MemberJoinRecord>({
  table: "member_join_events",
  dateFields: { accountCreatedAt: true, joinedAt: true },
  guardedInsert: (rows) => Prisma.sql`
    INSERT INTO member_join_events (guild_id, user_id, account_created_at, account_age_days, joined_at)
    SELECT * FROM unnest(
      ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.userId)}::text[],
      ${column(rows, (r) => r.accountCreatedAt)}::timestamptz[], ${column(rows, (r) => r.accountAgeDays)}::int[],
      ${column(rows, (r) => r.joinedAt)}::timestamptz[])
    WHERE EXISTS (SELECT 1 FROM marker)
    RETURNING 1`,
});
