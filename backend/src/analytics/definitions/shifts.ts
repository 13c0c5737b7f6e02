import type { ActivityRepository } from "../activity-repository.ts";
import { defineAnalytic } from "../analytic-definition.ts";
import { toEnvelope } from "../analytics-page.ts";
import { windowParams } from "../analytics-params.ts";
import type { AnalyticsQuery, ShiftsResult } from "../analytics-types.ts";
import { previousWindow } from "../analytics-window.ts";

/** Behaviour shifts: messages and typing now vs the window before; messageDrop + typingSpike = score 0..2. */
export const shifts = defineAnalytic({
  type: "shifts",
  summary:
    "who changed behaviour: per user, messages and typing now vs the window before; `messageDrop` + `typingSpike` = score 0-2",
  ttlSeconds: 5 * 60,
  reads: {
    message: "compares message counts with the window before",
    typing: "compares typing counts with the window before",
  },
  params: windowParams,
  compute: {
    raw: ({ activity }, query) => shiftsFrom(activity, query),
    rollup: ({ rollup }, query) => shiftsFrom(rollup, query),
  },
});

async function shiftsFrom(
  repository: Pick<ActivityRepository, "shifts">,
  query: AnalyticsQuery,
): Promise<ShiftsResult> {
  return toEnvelope("shifts", query, await repository.shifts(query), previousWindow(query));
}
