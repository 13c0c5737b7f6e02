import { ANALYTICS_TYPES, type AnalyticsType } from "../analytics/analytics-catalog.ts";
import { ANALYTIC_DEFINITIONS } from "../analytics/definitions/index.ts";
import { INGEST_EVENT_KINDS } from "../ingest/event-kinds/index.ts";
import type { IngestEventKind } from "../ingest/event-records.ts";

/**
 * Which analytics each kind of stored event can change: derived from each analytic's `reads` (its definition says
 * which event kinds it reads and why; docs/analytics.md shows the table), so it is written once and no kind or
 * analytic can be left out. Invalidation bumps only these analytics, and only for the event's guild.
 */
export const ANALYTICS_AFFECTED_BY: Readonly<Record<IngestEventKind, readonly AnalyticsType[]>> = affectedByKind();

function affectedByKind(): Record<IngestEventKind, readonly AnalyticsType[]> {
  const table = {} as Record<IngestEventKind, readonly AnalyticsType[]>;
  for (const kind of INGEST_EVENT_KINDS) {
    table[kind] = ANALYTICS_TYPES.filter((type) => Object.hasOwn(ANALYTIC_DEFINITIONS[type].reads, kind));
  }
  return table;
}

/** The analytics affected by any of `kinds`, in catalog order, without duplicates. */
export function analyticsAffectedBy(kinds: Iterable<IngestEventKind>): AnalyticsType[] {
  const affected = new Set<AnalyticsType>();
  for (const kind of kinds) for (const type of ANALYTICS_AFFECTED_BY[kind]) affected.add(type);
  return ANALYTICS_TYPES.filter((type) => affected.has(type));
}
