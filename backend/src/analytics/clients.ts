import { toEnvelope } from "./analytics-page.ts";
import type { AnalyticsQuery, ClientsResult } from "./analytics-types.ts";
import { previousWindow } from "./analytics-window.ts";
import type { PresenceRepository } from "./presence-repository.ts";

/** Client drift: platforms seen in the window vs the equally long window before; flagged when one is new. */
export async function clientsAnalytic(repository: Pick<PresenceRepository, "clientDrift">, query: AnalyticsQuery): Promise<ClientsResult> {
  return toEnvelope("clients", query, await repository.clientDrift(query), previousWindow(query));
}
