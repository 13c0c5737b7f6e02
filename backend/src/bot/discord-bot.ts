import { once } from "node:events";
import { Client, Events, GatewayIntentBits, Partials } from "discord.js";
import type { Logger } from "../logging/logger.ts";
import { attachListener, type BotListener, type EventSink, type ListenerStats } from "./bot-listener.ts";
import { ALL_LISTENERS } from "./listeners/all-listeners.ts";

/** Options of the Discord bot. */
export interface DiscordBotOptions {
  /** Bot token (from the real Discord, or any string for the fake one). */
  token: string;
  /** Discord REST base without version (default https://discord.com/api); point it at a fake Discord to run offline. */
  apiUrl?: string;
  logger: Logger;
  /** Receives the records the listeners produce (the ingestion writer). */
  ingest: EventSink;
  /** Listeners to register (default: all six). */
  listeners?: readonly BotListener<any>[];
  /** Request the privileged MessageContent intent, so message lengths are known on the real Discord (default false). */
  readMessageContent?: boolean;
  /** How long `start()` waits for the client to be ready (default 30,000 ms). */
  readyTimeoutMs?: number;
}

/** A discord.js client with SpyWatcher's listeners. */
export interface DiscordBot {
  readonly client: Client;
  /** Logs in and resolves when the client is ready (guilds received). */
  start(): Promise<void>;
  /** Disconnects the client and clears its timers. Idempotent. */
  stop(): Promise<void>;
  /** Runs and failures per listener. */
  stats(): ListenerStats;
}

/**
 * The intents the listeners need: guild messages and typing, presences (privileged), members (privileged: member
 * updates and joins). Message content is not needed for any analytic.
 */
export function botIntents(readMessageContent = false): GatewayIntentBits[] {
  return [
    GatewayIntentBits.Guilds,
    GatewayIntentBits.GuildMessages,
    GatewayIntentBits.GuildMessageTyping,
    GatewayIntentBits.GuildPresences,
    GatewayIntentBits.GuildMembers,
    ...(readMessageContent ? [GatewayIntentBits.MessageContent] : []),
  ];
}

/** Builds the bot: a discord.js 14 client, its intents and partials, and one contained listener per event. */
export function createDiscordBot(options: DiscordBotOptions): DiscordBot {
  const client = new Client({
    intents: botIntents(options.readMessageContent),
    // Partials let events about uncached objects through: deletions of messages sent before the bot started,
    // updates of members not in GUILD_CREATE (large guilds), typing by uncached users.
    partials: [Partials.Message, Partials.Channel, Partials.GuildMember, Partials.User],
    rest: { api: options.apiUrl ?? "https://discord.com/api" },
  });
  const stats: ListenerStats = {};
  const context = { ingest: options.ingest, logger: options.logger };
  for (const listener of options.listeners ?? ALL_LISTENERS) attachListener(client, listener, context, stats);
  client.on(Events.Error, (error) => options.logger.error({ err: error }, "discord client error"));
  client.on(Events.Warn, (message) => options.logger.warn({ discord: message }, "discord client warning"));
  client.on(Events.ShardDisconnect, (_event, shardId) => options.logger.warn({ shardId }, "discord gateway disconnected"));

  let stopped: Promise<void> | undefined;
  return {
    client,
    async start() {
      const timeoutMs = options.readyTimeoutMs ?? 30_000;
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new Error(`discord client not ready within ${timeoutMs} ms`)), timeoutMs);
      const ready = once(client, Events.ClientReady, { signal: abort.signal });
      // If login fails, `ready` is aborted below; observe it so that rejection is not reported as unhandled.
      ready.catch(() => undefined);
      try {
        await client.login(options.token);
        await ready;
      } finally {
        clearTimeout(timer);
        abort.abort();
      }
      options.logger.info(
        { user: client.user?.tag, guilds: client.guilds.cache.size, api: options.apiUrl ?? "https://discord.com/api" },
        "discord bot ready",
      );
    },
    stop() {
      stopped ??= client.destroy();
      return stopped;
    },
    stats: () => structuredClone(stats),
  };
}
