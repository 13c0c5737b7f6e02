import { ANALYTICS_TYPES, type AnalyticsType } from "../analytics/analytics-catalog.ts";
import type { IngestEventKind } from "../ingest/event-records.ts";

/**
 * Which analytics each kind of stored event can change, read from the analytics definitions (docs/ingestion.md
 * explains each line). Invalidation bumps only these analytics, and only for the event's guild.
 */
export const ANALYTICS_AFFECTED_BY: Readonly<Record<IngestEventKind, readonly AnalyticsType[]>> = {
  // Ghosts count messages, lurkers need "no message", heatmap counts messages per channel/hour, shifts compare messages.
  message: ["ghosts", "lurkers", "heatmap", "shifts"],
  // The same four read typing counts (lurkers need "no typing").
  typing: ["ghosts", "lurkers", "heatmap", "shifts"],
  // Lurkers count presence events; client drift compares the platforms seen in presence events.
  presence: ["lurkers", "clients"],
  // Role drift counts roles added and removed.
  roleChange: ["roles"],
  // No analytic reads deletions: message counts are of messages posted, and a deleted message was still posted.
  messageDelete: [],
  // No analytic reads joins: a new member becomes a lurker only through presence events, which invalidate lurkers.
  memberJoin: [],
};

/** The analytics affected by any of `kinds`, in catalog order, without duplicates. */
export function analyticsAffectedBy(kinds: Iterable<IngestEventKind>): AnalyticsType[] {
  const affected = new Set<AnalyticsType>();
  for (const kind of kinds) for (const type of ANALYTICS_AFFECTED_BY[kind]) affected.add(type);
  return ANALYTICS_TYPES.filter((type) => affected.has(type));
}
