import type { IngestEventKind } from "../ingest/event-records.ts";
import type { ActivityRepository } from "./activity-repository.ts";
import type { AnalyticsType } from "./analytics-catalog.ts";
import type { AnalyticsParamsSchema } from "./analytics-params.ts";
import type { AnalyticsQuery } from "./analytics-types.ts";
import type { PresenceRepository } from "./presence-repository.ts";
import type { RoleRepository } from "./role-repository.ts";
import type { RollupRepository } from "./rollup-repository.ts";

/** The data access an analytic computes from (built once per analytics service on one Prisma client). */
export interface AnalyticSources {
  /** Messages, typing and deletions (raw events). */
  activity: ActivityRepository;
  /** Presence events (raw). */
  presence: PresenceRepository;
  /** Role changes (raw). */
  roles: RoleRepository;
  /** The rollup tables plus raw edges (docs/analytics.md "Speed: rollups"). */
  rollup: RollupRepository;
}

/** Computes one analytic for one guild and window. */
export type AnalyticCompute<Result> = (sources: AnalyticSources, query: AnalyticsQuery) => Promise<Result>;

/**
 * Everything about one analytic, in one place. The catalog (TTLs), the API's validation, the invalidation table,
 * the CLI's choices and the docs' table are all read from these (analytics/definitions/index.ts).
 */
export interface AnalyticDefinition<T extends AnalyticsType, Result> {
  /** Its name in routes, cache keys and tags; must equal its key in `ANALYTIC_DEFINITIONS`. */
  type: T;
  /** One line saying what it lists (docs' table). */
  summary: string;
  /** Fresh TTL of its cache entries, in seconds. */
  ttlSeconds: number;
  /**
   * The event kinds whose rows it reads, each with why. A durable event of one of these kinds invalidates this
   * analytic for that guild; an event of any other kind never does. Missing one leaves it stale for its TTL.
   */
  reads: { readonly [K in IngestEventKind]?: string };
  /** Its query string (`guildId`, `since`, `limit`, ...): the API validates requests with it. */
  params: AnalyticsParamsSchema;
  compute: {
    /** From the raw event tables. */
    raw: AnalyticCompute<Result>;
    /** From the rollup tables when they are in use; "raw" when it has no rollup (it reads raw events either way). */
    rollup: AnalyticCompute<Result> | "raw";
  };
}

/** Declares an analytic (identity at run time; the type ties its name, result and computations together). */
export function defineAnalytic<T extends AnalyticsType, Result>(
  definition: AnalyticDefinition<T, Result>,
): AnalyticDefinition<T, Result> {
  return definition;
}
