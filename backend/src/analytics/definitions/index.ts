import type { AnalyticsType } from "../analytics-catalog.ts";
import type { AnalyticDefinition } from "../analytic-definition.ts";
import type { AnalyticsEnvelope } from "../analytics-types.ts";
import { clients } from "./clients.ts";
import { deletions } from "./deletions.ts";
import { ghosts } from "./ghosts.ts";
import { heatmap } from "./heatmap.ts";
import { lurkers } from "./lurkers.ts";
import { roles } from "./roles.ts";
import { shifts } from "./shifts.ts";

/**
 * Every analytic, one definition each. The compiler refuses a name of `ANALYTICS_TYPES` without an entry, an
 * entry that is not in `ANALYTICS_TYPES`, and an entry whose `type` differs from its key.
 */
export const ANALYTIC_DEFINITIONS = {
  ghosts,
  lurkers,
  heatmap,
  roles,
  clients,
  shifts,
  deletions,
} as const satisfies { [T in AnalyticsType]: AnalyticDefinition<T, AnalyticsEnvelope<T, unknown>> };

/** The result type of each analytic, read from its definition. */
export type AnalyticsResultMap = {
  [T in AnalyticsType]: (typeof ANALYTIC_DEFINITIONS)[T] extends AnalyticDefinition<T, infer Result> ? Result : never;
};

/** Any analytic's result. */
export type AnalyticsResult = AnalyticsResultMap[AnalyticsType];

/** The definition of one analytic, typed for its result. */
export function analyticDefinition<T extends AnalyticsType>(type: T): AnalyticDefinition<T, AnalyticsResultMap[T]> {
  // TypeScript cannot relate a generic key to the matching value of the map: the `satisfies` above proves it.
  return ANALYTIC_DEFINITIONS[type] as unknown as AnalyticDefinition<T, AnalyticsResultMap[T]>;
}
