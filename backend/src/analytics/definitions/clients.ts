import { defineAnalytic } from "../analytic-definition.ts";
import { toEnvelope } from "../analytics-page.ts";
import { windowParams } from "../analytics-params.ts";
import type { AnalyticsQuery, ClientsResult } from "../analytics-types.ts";
import { previousWindow } from "../analytics-window.ts";
import type { PresenceRepository } from "../presence-repository.ts";

/** Client drift: platforms seen in the window vs the equally long window before; flagged when one is new. */
export const clients = defineAnalytic({
  type: "clients",
  summary: "who switched devices: per user, client platforms now vs the window before; flagged when one is new",
  ttlSeconds: 2 * 60,
  reads: { presence: "compares the platforms of presence events with the window before" },
  params: windowParams,
  compute: {
    raw: ({ presence }, query) => clientsFrom(presence, query),
    rollup: ({ rollup }, query) => clientsFrom(rollup, query),
  },
});

async function clientsFrom(
  repository: Pick<PresenceRepository, "clientDrift">,
  query: AnalyticsQuery,
): Promise<ClientsResult> {
  return toEnvelope("clients", query, await repository.clientDrift(query), previousWindow(query));
}
