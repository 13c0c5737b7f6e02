import type { Logger } from "../logging/logger.ts";
import { ActivityGenerator } from "./activity-generator.ts";
import { startFakeDiscord } from "./fake-discord/fake-discord-server.ts";
import type { FakeOAuth } from "./fake-discord/fake-oauth.ts";
import { DEMO_MODERATOR, demoModeratorGuilds } from "./demo-moderator.ts";
import { buildSimulatedGuild } from "./simulated-guild.ts";

/** Options of simulated mode. */
export interface SimulatedDiscordOptions {
  /** Events per second streamed to connected clients, across all simulated guilds (SIMULATION_EVENTS_PER_SECOND). */
  rate: number;
  logger: Logger;
  /** Number of simulated guilds (default 1). */
  guilds?: number;
  /** Random source (default Math.random); tests pass a seeded one. */
  random?: () => number;
  /** Serve "Log in with Discord" for the demo moderator with this OAuth2 client (default: no OAuth2). */
  oauth?: { clientId: string; clientSecret: string };
}

/** A running simulated Discord: point the bot at `apiUrl` with `token`. */
export interface SimulatedDiscord {
  apiUrl: string;
  token: string;
  guildIds: string[];
  /** Browser-facing OAuth2 authorize page of the fake Discord. */
  authorizeUrl: string;
  /** OAuth2 test controls (undefined without the `oauth` option). */
  oauth: FakeOAuth | undefined;
  /** Events dispatched so far. */
  dispatched(): number;
  /** Stops the activity and closes the fake Discord. Idempotent. */
  stop(): Promise<void>;
}

const TICK_MS = 50;

/**
 * Starts a local fake Discord serving built-in simulated guilds and streams activity to connected clients at
 * `rate` events per second (none while no client is connected), so analytics fill up without a Discord token.
 */
export async function startSimulatedDiscord(options: SimulatedDiscordOptions): Promise<SimulatedDiscord> {
  const rate = options.rate;
  const guilds = Array.from({ length: options.guilds ?? 1 }, (_, index) => buildSimulatedGuild(index + 1));
  const generators = guilds.map((guild) => new ActivityGenerator(guild, options.random));
  const fake = await startFakeDiscord({
    guilds: guilds.map((simulated) => simulated.guild),
    ...(options.oauth
      ? {
          oauth: {
            ...options.oauth,
            user: DEMO_MODERATOR,
            userGuilds: demoModeratorGuilds(guilds.map((simulated) => simulated.guild)),
          },
        }
      : {}),
  });

  let dispatched = 0;
  let owed = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    // Fractional events carry over between ticks, so low rates (e.g. 2/s) still come out right on average.
    owed += ((now - last) / 1000) * rate;
    last = now;
    if (fake.readyClientCount() === 0) {
      owed = 0;
      return;
    }
    for (; owed >= 1; owed -= 1) {
      const generator = generators[dispatched % generators.length]!;
      const event = generator.next();
      fake.dispatch(event.type, event.data);
      dispatched += 1;
    }
  }, TICK_MS);

  const guildIds = guilds.map((simulated) => simulated.guild.id);
  options.logger.warn(
    { apiUrl: fake.apiUrl, guildIds, eventsPerSecond: rate },
    "SIMULATED DISCORD: DISCORD_TOKEN is not set, so the bot is connected to a local fake Discord streaming built-in simulated guild activity (not real data)",
  );

  let stopping: Promise<void> | undefined;
  return {
    apiUrl: fake.apiUrl,
    token: "simulated-discord-token",
    guildIds,
    authorizeUrl: fake.authorizeUrl,
    oauth: fake.oauth,
    dispatched: () => dispatched,
    stop() {
      stopping ??= (async () => {
        clearInterval(ticker);
        await fake.close();
      })();
      return stopping;
    },
  };
}
