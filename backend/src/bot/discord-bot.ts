import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import { Client, Events, GatewayIntentBits, Partials, type Guild } from "discord.js";
import type { Logger } from "../logging/logger.ts";
import { attachListener, type BotListener, type EventSink, type ListenerStats } from "./bot-listener.ts";
import {
  GuildMemberLoader,
  type GuildMemberLoaderOptions,
  type GuildMemberLoaderStats,
} from "./guild-member-loader.ts";
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
  // biome-ignore lint/suspicious/noExplicitAny: a list of listeners of different events (each checked where it is defined)
  listeners?: readonly BotListener<any>[];
  /** Request the privileged MessageContent intent, so message lengths are known on the real Discord (default false). */
  readMessageContent?: boolean;
  /** How long `start()` waits for the client to be ready (default 30,000 ms). */
  readyTimeoutMs?: number;
  /**
   * How long `start()` then waits for the member lists of its guilds (default 10,000 ms). Past it `start()` resolves
   * anyway and the fetch goes on in the background; events are recorded all along.
   */
  memberFetchWaitMs?: number;
  /** Member list fetching (op 8): chunk timeout, concurrency, rate-limit retries. */
  memberFetch?: GuildMemberLoaderOptions;
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
  /** Counters of guild member list fetches. */
  memberFetchStats(): GuildMemberLoaderStats;
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
    // makeCache and sweepers stay discord.js's defaults on purpose: they limit only messages (200 per channel) and
    // sweep only archived threads, so the members fetched below stay cached (a member limit or sweeper would send
    // their role changes back to the partial path). Checked in __tests__/integration/bot/member-fetch.test.ts.
  });
  const members = new GuildMemberLoader(options.logger, options.memberFetch);
  // Guilds joined, or back from an outage, after start: their members are fetched too (at start they come with READY).
  const loadLater = (guild: Guild) => {
    if (client.isReady()) void members.load(guild);
  };
  client.on(Events.GuildCreate, loadLater);
  client.on(Events.GuildAvailable, loadLater);
  const stats: ListenerStats = {};
  const context = { ingest: options.ingest, logger: options.logger };
  for (const listener of options.listeners ?? ALL_LISTENERS) attachListener(client, listener, context, stats);
  client.on(Events.Error, (error) => options.logger.error({ err: error }, "discord client error"));
  client.on(Events.Warn, (message) => options.logger.warn({ discord: message }, "discord client warning"));
  client.on(Events.ShardDisconnect, (_event, shardId) =>
    options.logger.warn({ shardId }, "discord gateway disconnected"),
  );

  /** Starts loading `guilds`' members and waits for them at most `memberFetchWaitMs`; never rejects. */
  async function waitForMemberLists(guilds: Iterable<Guild>): Promise<void> {
    const waitMs = options.memberFetchWaitMs ?? 10_000;
    const startedAt = performance.now();
    const abort = new AbortController();
    const loaded = members.loadAll(guilds).then(() => true);
    const done = await Promise.race([loaded, delay(waitMs, false, { signal: abort.signal }).catch(() => false)]);
    abort.abort();
    const ms = Math.round(performance.now() - startedAt);
    if (done) options.logger.info({ ms, ...members.stats() }, "guild member lists loaded");
    // Why not wait longer: the bot already records events; only role changes of members not yet cached are skipped.
    else
      options.logger.warn(
        { waitedMs: ms, ...members.stats() },
        "guild member lists still loading; bot started without waiting further",
      );
  }

  let stopped: Promise<void> | undefined;
  return {
    client,
    async start() {
      const timeoutMs = options.readyTimeoutMs ?? 30_000;
      const abort = new AbortController();
      const timer = setTimeout(
        () => abort.abort(new Error(`discord client not ready within ${timeoutMs} ms`)),
        timeoutMs,
      );
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
      await waitForMemberLists(client.guilds.cache.values());
    },
    stop() {
      if (!stopped) {
        members.stop();
        stopped = client.destroy();
      }
      return stopped;
    },
    stats: () => structuredClone(stats),
    memberFetchStats: () => members.stats(),
  };
}
