import type { DeletionItem } from "../activity-repository.ts";
import { defineAnalytic } from "../analytic-definition.ts";
import { toEnvelope } from "../analytics-page.ts";
import { windowParams } from "../analytics-params.ts";
import type { AnalyticsEnvelope } from "../analytics-types.ts";

/** Result of the deletions analytic. */
export type DeletionsResult = AnalyticsEnvelope<"deletions", DeletionItem>;

/** Deletions: per user, messages deleted and posted in the window; deletionRatio = deleted / max(posted, 1). */
export const deletions = defineAnalytic({
  type: "deletions",
  summary:
    "who deletes messages: per user with deletions whose author is known, `deletedCount`, `messageCount`, `deletionRatio = deleted / max(posted, 1)`",
  ttlSeconds: 5 * 60,
  reads: { messageDelete: "counts deletions", message: "counts messages posted (the ratio's denominator)" },
  params: windowParams,
  compute: {
    raw: async ({ activity }, query): Promise<DeletionsResult> =>
      toEnvelope("deletions", query, await activity.deletions(query)),
    // No rollup table holds deletions, and only users who deleted have their messages counted (one index range
    // each), so the raw events are read with or without rollups.
    rollup: "raw",
  },
});
