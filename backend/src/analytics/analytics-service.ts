import type { PrismaClient } from "../db/prisma-client.ts";
import { ActivityRepository } from "./activity-repository.ts";
import type { AnalyticsType } from "./analytics-catalog.ts";
import type { AnalyticsQuery, AnalyticsResultMap } from "./analytics-types.ts";
import { clientsAnalytic } from "./clients.ts";
import { ghostsAnalytic } from "./ghosts.ts";
import { heatmapAnalytic } from "./heatmap.ts";
import { lurkersAnalytic } from "./lurkers.ts";
import { PresenceRepository } from "./presence-repository.ts";
import { RoleRepository } from "./role-repository.ts";
import { rolesAnalytic } from "./roles.ts";
import { shiftsAnalytic } from "./shifts.ts";

/** Computes any of the six analytics for one guild and window, straight from PostgreSQL (no cache). */
export interface AnalyticsService {
  compute<T extends AnalyticsType>(type: T, query: AnalyticsQuery): Promise<AnalyticsResultMap[T]>;
}

/** Builds the analytics service on a Prisma client. */
export function createAnalyticsService(deps: { prisma: PrismaClient }): AnalyticsService {
  const activity = new ActivityRepository(deps.prisma);
  const presence = new PresenceRepository(deps.prisma);
  const roles = new RoleRepository(deps.prisma);
  const run: { [T in AnalyticsType]: (query: AnalyticsQuery) => Promise<AnalyticsResultMap[T]> } = {
    ghosts: (query) => ghostsAnalytic(activity, query),
    lurkers: (query) => lurkersAnalytic(presence, query),
    heatmap: (query) => heatmapAnalytic(activity, query),
    roles: (query) => rolesAnalytic(roles, query),
    clients: (query) => clientsAnalytic(presence, query),
    shifts: (query) => shiftsAnalytic(activity, query),
  };
  return { compute: (type, query) => run[type](query) };
}
