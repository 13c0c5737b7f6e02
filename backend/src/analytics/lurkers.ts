import { toEnvelope } from "./analytics-page.ts";
import { LURKER_FLAG_MIN_PRESENCE } from "./analytics-rules.ts";
import type { AnalyticsQuery, LurkersResult } from "./analytics-types.ts";
import type { PresenceRepository } from "./presence-repository.ts";

/** Lurkers: present in the guild in the window, no message and no typing in it; flagged from 5 presence events. */
export async function lurkersAnalytic(repository: Pick<PresenceRepository, "lurkers">, query: AnalyticsQuery): Promise<LurkersResult> {
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
