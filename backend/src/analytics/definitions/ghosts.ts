import type { ActivityRepository } from "../activity-repository.ts";
import { defineAnalytic } from "../analytic-definition.ts";
import { toEnvelope } from "../analytics-page.ts";
import { windowParams } from "../analytics-params.ts";
import type { AnalyticsQuery, GhostsResult } from "../analytics-types.ts";

/** Ghosts: users who typed in the window, ghostScore = typing / (messages + 1), highest first. */
export const ghosts = defineAnalytic({
  type: "ghosts",
  summary:
    "who types but rarely sends: per user who typed, typing and message counts, `ghostScore = typing / (messages + 1)`",
  ttlSeconds: 5 * 60,
  reads: { message: "counts messages", typing: "counts typing" },
  params: windowParams,
  compute: {
    raw: ({ activity }, query) => ghostsFrom(activity, query),
    rollup: ({ rollup }, query) => ghostsFrom(rollup, query),
  },
});

async function ghostsFrom(
  repository: Pick<ActivityRepository, "ghosts">,
  query: AnalyticsQuery,
): Promise<GhostsResult> {
  return toEnvelope("ghosts", query, await repository.ghosts(query));
}
