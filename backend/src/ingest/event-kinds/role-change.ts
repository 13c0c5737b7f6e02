import { Prisma } from "../../generated/prisma/client.ts";
import { column, defineEventKind } from "./event-kind-definition.ts";

/** One role added to or removed from a member (table role_change_events). */
export interface RoleChangeRecord {
  kind: "roleChange";
  guildId: string;
  userId: string;
  roleId: string;
  roleName: string;
  action: "added" | "removed";
  createdAt: Date;
}

/** Role changes, one row per role added or removed. */
export const roleChangeKind = defineEventKind<RoleChangeRecord>({
  table: "role_change_events",
  dateFields: { createdAt: true },
  guardedInsert: (rows) => Prisma.sql`
    INSERT INTO role_change_events (guild_id, user_id, role_id, role_name, action, created_at)
    SELECT * FROM unnest(
      ${column(rows, (r) => r.guildId)}::text[], ${column(rows, (r) => r.userId)}::text[],
      ${column(rows, (r) => r.roleId)}::text[], ${column(rows, (r) => r.roleName)}::text[],
      ${column(rows, (r) => r.action)}::text[], ${column(rows, (r) => r.createdAt)}::timestamptz[])
    WHERE EXISTS (SELECT 1 FROM marker)
    RETURNING 1`,
});
