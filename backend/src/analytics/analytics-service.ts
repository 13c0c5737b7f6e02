import type { PrismaClient } from "../db/prisma-client.ts";
import { ActivityRepository } from "./activity-repository.ts";
import { AnalyticsQueryLimiter, type AnalyticsQueryLimits } from "./analytics-query-limiter.ts";
import type { AnalyticsType } from "./analytics-catalog.ts";
import type { AnalyticsQuery, AnalyticsResultMap } from "./analytics-types.ts";
import { clientsAnalytic } from "./clients.ts";
import { ghostsAnalytic } from "./ghosts.ts";
import { heatmapAnalytic } from "./heatmap.ts";
import { lurkersAnalytic } from "./lurkers.ts";
import { PresenceRepository } from "./presence-repository.ts";
import { RoleRepository } from "./role-repository.ts";
import { rolesAnalytic } from "./roles.ts";
import { RollupRepository } from "./rollup-repository.ts";
import { shiftsAnalytic } from "./shifts.ts";

/** Computes any of the six analytics for one guild and window, straight from PostgreSQL (no cache). */
export interface AnalyticsService {
  compute<T extends AnalyticsType>(type: T, query: AnalyticsQuery): Promise<AnalyticsResultMap[T]>;
  /** Whether the rollup tables are in use (after the first computation in "auto" mode). */
  usesRollups(): Promise<boolean>;
}

/** Options of the analytics service. */
export interface AnalyticsServiceOptions {
  prisma: PrismaClient;
  /**
   * Read ghosts, lurkers, heatmap, shifts and clients from the rollup tables of migration 20261122020000_analytics_rollups (true), from raw
   * events only (false), or from rollups when those tables exist (default "auto", checked once).
   */
  rollups?: boolean | "auto";
  /** Bounds on computations at once and waiting (default none: every call runs at once). */
  limits?: AnalyticsQueryLimits;
}

/** Builds the analytics service on a Prisma client. */
export function createAnalyticsService(options: AnalyticsServiceOptions): AnalyticsService {
  const { prisma } = options;
  const activity = new ActivityRepository(prisma);
  const presence = new PresenceRepository(prisma);
  const roles = new RoleRepository(prisma);
  const rollup = new RollupRepository(prisma);
  let detected: Promise<boolean> | undefined;
  const usesRollups = (): Promise<boolean> => {
    if (typeof options.rollups === "boolean") return Promise.resolve(options.rollups);
    detected ??= rollupTablesExist(prisma).catch((error: unknown) => {
      // A failed check (database down) is not an answer: ask again next time.
      detected = undefined;
      throw error;
    });
    return detected;
  };
  const run: { [T in AnalyticsType]: (query: AnalyticsQuery, fast: boolean) => Promise<AnalyticsResultMap[T]> } = {
    ghosts: (query, fast) => ghostsAnalytic(fast ? rollup : activity, query),
    lurkers: (query, fast) => lurkersAnalytic(fast ? rollup : presence, query),
    heatmap: (query, fast) => heatmapAnalytic(fast ? rollup : activity, query),
    roles: (query) => rolesAnalytic(roles, query),
    clients: (query, fast) => clientsAnalytic(fast ? rollup : presence, query),
    shifts: (query, fast) => shiftsAnalytic(fast ? rollup : activity, query),
  };
  const limiter = options.limits && new AnalyticsQueryLimiter(options.limits);
  const compute = async <T extends AnalyticsType>(type: T, query: AnalyticsQuery) => run[type](query, await usesRollups());
  return {
    compute: limiter ? (type, query) => limiter.run(() => compute(type, query)) : compute,
    usesRollups,
  };
}

async function rollupTablesExist(prisma: PrismaClient): Promise<boolean> {
  const [row] = await prisma.$queryRaw<{ present: boolean }[]>`
    SELECT to_regclass('user_activity_daily') IS NOT NULL
       AND to_regclass('channel_activity_hourly') IS NOT NULL
       AND to_regclass('user_presence_daily') IS NOT NULL
       AND to_regclass('user_presence_hourly') IS NOT NULL AS present`;
  return row?.present ?? false;
}
