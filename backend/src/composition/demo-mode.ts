import type { AppConfig } from "../config/config.ts";
import type { Logger } from "../logging/logger.ts";
import { startSimulatedDiscord, type SimulatedDiscord } from "../simulation/start-simulated-discord.ts";

export type { SimulatedDiscord } from "../simulation/start-simulated-discord.ts";

/**
 * The one switch into the simulation (`backend/src/simulation/`, the local fake Discord and its simulated guild):
 * started only in demo mode (`config.demo`, see SPYWATCHER_DEMO); undefined otherwise. No other production module
 * imports the simulation (`__tests__/unit/composition/demo-switch.test.ts` checks it).
 */
export async function startDemoDiscordIfEnabled(
  config: Pick<AppConfig["discord"], "demo" | "simulationEventsPerSecond">,
  logger: Logger,
  oauth: { clientId: string; clientSecret: string } | undefined,
): Promise<SimulatedDiscord | undefined> {
  if (!config.demo) return undefined;
  return startSimulatedDiscord({ rate: config.simulationEventsPerSecond, logger, oauth });
}
