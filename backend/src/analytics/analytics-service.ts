import type { PrismaClient } from "../db/prisma-client.ts";
import { ActivityRepository } from "./activity-repository.ts";
import type { AnalyticSources } from "./analytic-definition.ts";
import type { AnalyticsType } from "./analytics-catalog.ts";
import { AnalyticsQueryLimiter, type AnalyticsQueryLimits } from "./analytics-query-limiter.ts";
import type { AnalyticsQuery } from "./analytics-types.ts";
import { analyticDefinition, type AnalyticsResultMap } from "./definitions/index.ts";
import { PresenceRepository } from "./presence-repository.ts";
import { RoleRepository } from "./role-repository.ts";
import { RollupRepository } from "./rollup-repository.ts";

/** Computes any analytic for one guild and window, straight from PostgreSQL (no cache). */
export interface AnalyticsService {
  compute<T extends AnalyticsType>(type: T, query: AnalyticsQuery): Promise<AnalyticsResultMap[T]>;
  /** Whether the rollup tables are in use (after the first computation in "auto" mode). */
  usesRollups(): Promise<boolean>;
}

/** Options of the analytics service. */
export interface AnalyticsServiceOptions {
  prisma: PrismaClient;
  /**
   * Compute each analytic that has a rollup computation (its definition's `compute.rollup`) from the rollup tables
   * of migration 20261122020000_analytics_rollups (true), from raw events only (false), or from rollups when those
   * tables exist (default "auto", checked once).
   */
  rollups?: boolean | "auto";
  /** Bounds on computations at once and waiting (default none: every call runs at once). */
  limits?: AnalyticsQueryLimits;
}

/** Builds the analytics service on a Prisma client. */
export function createAnalyticsService(options: AnalyticsServiceOptions): AnalyticsService {
  const { prisma } = options;
  const sources: AnalyticSources = {
    activity: new ActivityRepository(prisma),
    presence: new PresenceRepository(prisma),
    roles: new RoleRepository(prisma),
    rollup: new RollupRepository(prisma),
  };
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
  const compute = async <T extends AnalyticsType>(type: T, query: AnalyticsQuery): Promise<AnalyticsResultMap[T]> => {
    const { raw, rollup } = analyticDefinition(type).compute;
    const fromRollups = await usesRollups();
    return fromRollups && rollup !== "raw" ? rollup(sources, query) : raw(sources, query);
  };
  const limiter = options.limits && new AnalyticsQueryLimiter(options.limits);
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
