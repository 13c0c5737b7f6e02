import { defineAnalytic } from "../analytic-definition.ts";
import { toEnvelope } from "../analytics-page.ts";
import { windowParams } from "../analytics-params.ts";
import { LURKER_FLAG_MIN_PRESENCE } from "../analytics-rules.ts";
import type { AnalyticsQuery, LurkersResult } from "../analytics-types.ts";
import type { PresenceRepository } from "../presence-repository.ts";

/** Lurkers: present in the guild in the window, no message and no typing in it; flagged from 5 presence events. */
export const lurkers = defineAnalytic({
  type: "lurkers",
  summary: `who is present but silent: presence events and no message or typing; flagged from ${LURKER_FLAG_MIN_PRESENCE} presence events`,
  ttlSeconds: 5 * 60,
  reads: {
    message: "a lurker has no message",
    typing: "a lurker has no typing",
    presence: "counts presence events",
  },
  params: windowParams,
  compute: {
    raw: ({ presence }, query) => lurkersFrom(presence, query),
    rollup: ({ rollup }, query) => lurkersFrom(rollup, query),
  },
});

async function lurkersFrom(
  repository: Pick<PresenceRepository, "lurkers">,
  query: AnalyticsQuery,
): Promise<LurkersResult> {
  const page = await repository.lurkers(query);
  return toEnvelope("lurkers", query, {
    ...page,
    rows: page.rows.map((row) => ({
      userId: row.userId,
      presenceCount: row.presenceCount,
      lastSeenAt: row.lastSeenAt.toISOString(),
      flagged: row.presenceCount >= LURKER_FLAG_MIN_PRESENCE,
    })),
  });
}
