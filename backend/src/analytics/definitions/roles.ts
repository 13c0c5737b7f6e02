import { defineAnalytic } from "../analytic-definition.ts";
import { toEnvelope } from "../analytics-page.ts";
import { windowParams } from "../analytics-params.ts";
import { ROLE_FLAG_MIN_CHANGES } from "../analytics-rules.ts";
import type { AnalyticsQuery, RolesResult } from "../analytics-types.ts";
import type { RoleRepository } from "../role-repository.ts";

/** Role drift: per user, roles added and removed in the window; flagged from 2 changes. */
export const roles = defineAnalytic({
  type: "roles",
  summary: `whose roles keep changing: per user, roles added and removed; flagged from ${ROLE_FLAG_MIN_CHANGES} changes`,
  ttlSeconds: 10 * 60,
  reads: { roleChange: "counts roles added and removed" },
  params: windowParams,
  // Role changes are few: raw events are fast enough, so there is no rollup.
  compute: { raw: ({ roles: repository }, query) => rolesFrom(repository, query), rollup: "raw" },
});

async function rolesFrom(repository: Pick<RoleRepository, "roleDrift">, query: AnalyticsQuery): Promise<RolesResult> {
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
