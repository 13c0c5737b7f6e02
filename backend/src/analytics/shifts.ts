import type { ActivityRepository } from "./activity-repository.ts";
import { toEnvelope } from "./analytics-page.ts";
import type { AnalyticsQuery, ShiftsResult } from "./analytics-types.ts";
import { previousWindow } from "./analytics-window.ts";

/** Behaviour shifts: messages and typing now vs the window before; messageDrop + typingSpike = score 0..2. */
export async function shiftsAnalytic(repository: Pick<ActivityRepository, "shifts">, query: AnalyticsQuery): Promise<ShiftsResult> {
  return toEnvelope("shifts", query, await repository.shifts(query), previousWindow(query));
}
