import { toEnvelope } from "./analytics-page.ts";
import { ROLE_FLAG_MIN_CHANGES } from "./analytics-rules.ts";
import type { AnalyticsQuery, RolesResult } from "./analytics-types.ts";
import type { RoleRepository } from "./role-repository.ts";

/** Role drift: per user, roles added and removed in the window; flagged from 2 changes. */
export async function rolesAnalytic(repository: RoleRepository, query: AnalyticsQuery): Promise<RolesResult> {
  const page = await repository.roleDrift(query);
  return toEnvelope("roles", query, {
    ...page,
    rows: page.rows.map((row) => ({
      userId: row.userId,
      addedCount: row.addedCount,
      removedCount: row.removedCount,
      roleChangeCount: row.roleChangeCount,
      lastChangeAt: row.lastChangeAt.toISOString(),
      flagged: row.roleChangeCount >= ROLE_FLAG_MIN_CHANGES,
    })),
  });
}
