import type { ActivityRepository } from "./activity-repository.ts";
import { toEnvelope } from "./analytics-page.ts";
import type { AnalyticsQuery, GhostsResult } from "./analytics-types.ts";

/** Ghosts: users who typed in the window, ghostScore = typing / (messages + 1), highest first. */
export async function ghostsAnalytic(repository: Pick<ActivityRepository, "ghosts">, query: AnalyticsQuery): Promise<GhostsResult> {
  return toEnvelope("ghosts", query, await repository.ghosts(query));
}
