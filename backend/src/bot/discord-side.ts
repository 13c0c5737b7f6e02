import type { PrismaClient } from "../db/prisma-client.ts";
import { createIngestRepository } from "../ingest/ingest-repository.ts";
import { IngestSpillFile } from "../ingest/ingest-spill-file.ts";
import { IngestionWriter, type IngestionWriterOptions, type IngestStats } from "../ingest/ingestion-writer.ts";
import { replaySpill } from "../ingest/spill-replay.ts";
import type { IngestEventKind } from "../ingest/event-records.ts";
import {
  CacheInvalidationService,
  type CacheInvalidationOptions,
  type InvalidationStats,
  type TagInvalidator,
} from "../invalidation/cache-invalidation-service.ts";
import type { Logger } from "../logging/logger.ts";
import { analyticsUpdateChannel } from "../pubsub/analytics-update.ts";
import type { Publisher } from "../pubsub/pubsub.ts";
import { startSimulatedDiscord, type SimulatedDiscord } from "../simulation/start-simulated-discord.ts";
import type { ListenerStats } from "./bot-listener.ts";
import { createDiscordBot } from "./discord-bot.ts";
import type { GuildMemberLoaderStats } from "./guild-member-loader.ts";

/** Configuration of the Discord side (env var in brackets; every field has a default). */
export interface DiscordSideConfig {
  /** Bot token (DISCORD_TOKEN); required unless `demo`. */
  token?: string | undefined;
  /** Demo mode: the bot runs against the local fake Discord's simulated guild (SPYWATCHER_DEMO; default: no token outside production). */
  demo?: boolean;
  /** Discord REST base without version (DISCORD_API_URL, default https://discord.com/api). */
  apiUrl?: string;
  /** Request the privileged MessageContent intent (DISCORD_READ_MESSAGE_CONTENT, default false). */
  readMessageContent?: boolean;
  /** Simulated events per second (SIMULATION_EVENTS_PER_SECOND, default 20). */
  simulationEventsPerSecond?: number;
  /** Rows per insert (INGEST_BATCH_SIZE, default 2,000). */
  ingestBatchSize?: number;
  /** Longest wait of a buffered row (INGEST_FLUSH_INTERVAL_MS, default 200). */
  ingestFlushIntervalMs?: number;
  /** Buffer bound; overflow is counted and logged (INGEST_MAX_BUFFERED_ROWS, default 50,000). */
  ingestMaxBufferedRows?: number;
  /** First retry delay of a failed write, doubling (INGEST_RETRY_BASE_MS, default 100). */
  ingestRetryBaseMs?: number;
  /** Ceiling of the retry delay (INGEST_RETRY_MAX_MS, default 5,000). */
  ingestRetryMaxMs?: number;
  /** Time `stop()` keeps draining the buffer (INGEST_CLOSE_TIMEOUT_MS, default 10,000). */
  ingestCloseTimeoutMs?: number;
  /** Directory of the spill file of rows PostgreSQL did not take at shutdown, replayed at start (INGEST_SPILL_DIR, default data/ingest-spill). */
  ingestSpillDir?: string;
  /** Per-guild invalidation coalescing window (INVALIDATION_COALESCE_MS, default 1,000). */
  invalidationCoalesceMs?: number;
  /** Soft (stale served for at most one recompute) or hard event-driven invalidation (INVALIDATION_MODE, default soft). */
  invalidationMode?: "soft" | "hard";
  /** Demo mode: serve "Log in with Discord" on the fake Discord with this OAuth2 client (default none). */
  simulatedOAuth?: { clientId: string; clientSecret: string } | undefined;
  /** Key prefix naming the analytics update channel `<prefix>:analytics:update` (REDIS_KEY_PREFIX, default "spywatcher"). */
  keyPrefix?: string;
}

/** What `startDiscordSide` needs. */
export interface DiscordSideDependencies {
  config: DiscordSideConfig;
  logger: Logger;
  prisma: PrismaClient;
  /** The cache layer (only `invalidateByTags` is used). */
  cache: TagInvalidator;
  /** Publishes analytics updates (omit to invalidate without publishing). */
  publisher?: Publisher;
  /** Recomputes an analytic after its invalidation, so the published update carries the fresh result (see CacheInvalidationOptions). */
  recompute?: CacheInvalidationOptions["recompute"];
  /** Publishes updates with their data (the service's PubSubService); used with `recompute`. */
  analyticsUpdates?: CacheInvalidationOptions["analyticsUpdates"];
  /** Called with each durable batch's rows (the activity recorder, docs/activity.md); must return at once. */
  onDurableRows?: IngestionWriterOptions["onDurableRows"];
}

/** Counters of the whole Discord side. */
export interface DiscordSideStats {
  simulated: boolean;
  listeners: ListenerStats;
  /** Guild member list fetches (op 8) that make role changes of members missing from GUILD_CREATE recordable. */
  memberFetch: GuildMemberLoaderStats;
  ingest: IngestStats;
  invalidation: InvalidationStats;
}

/** The running Discord side. */
export interface DiscordSide {
  /** True when running against the built-in simulated guild. */
  simulated: boolean;
  /** Guild ids of the simulated Discord (empty with a real token). */
  simulatedGuildIds: string[];
  /** The invalidation service the ingestion writer reports durable events to (document 001's `cacheInvalidation`). */
  cacheInvalidation: CacheInvalidationService;
  /** Demo mode: where the fake Discord is, for "Log in with Discord" (undefined with a real token). */
  simulatedDiscord: { apiUrl: string; authorizeUrl: string; botToken: string } | undefined;
  stats(): DiscordSideStats;
  /** Disconnects the bot, stops the simulation, drains ingestion, flushes pending invalidations. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the Discord half of the service: bot -> ingestion writer -> (after durable) cache invalidation -> pub/sub.
 * Without a token it first starts the simulated Discord and runs the same bot against it.
 */
export async function startDiscordSide(deps: DiscordSideDependencies): Promise<DiscordSide> {
  const { config, logger } = deps;
  const invalidation = new CacheInvalidationService({
    cache: deps.cache,
    logger,
    ...(deps.publisher ? { publisher: deps.publisher, channel: analyticsUpdateChannel(config.keyPrefix ?? "spywatcher") } : {}),
    coalesceMs: config.invalidationCoalesceMs ?? 1_000,
    mode: config.invalidationMode ?? "soft",
    ...(deps.recompute && deps.analyticsUpdates ? { recompute: deps.recompute, analyticsUpdates: deps.analyticsUpdates } : {}),
  });
  const repository = createIngestRepository(deps.prisma);
  const spill = new IngestSpillFile(config.ingestSpillDir ?? "data/ingest-spill");
  const onDurable = (guildId: string, kinds: IngestEventKind[], events: number) => invalidation.notify(guildId, kinds, events);
  const writer = new IngestionWriter({
    repository,
    logger,
    spill,
    onDurable,
    ...(deps.onDurableRows ? { onDurableRows: deps.onDurableRows } : {}),
    batchSize: config.ingestBatchSize ?? 2_000,
    flushIntervalMs: config.ingestFlushIntervalMs ?? 200,
    maxBufferedRows: config.ingestMaxBufferedRows ?? 50_000,
    retryBaseMs: config.ingestRetryBaseMs ?? 100,
    retryMaxMs: config.ingestRetryMaxMs ?? 5_000,
    closeTimeoutMs: config.ingestCloseTimeoutMs ?? 10_000,
  });

  // Rows an earlier shutdown could not write: replayed beside live ingestion (retried while PostgreSQL is down).
  const replay = replaySpill({
    spill,
    repository,
    logger,
    onDurable,
    retryBaseMs: config.ingestRetryBaseMs ?? 100,
    retryMaxMs: config.ingestRetryMaxMs ?? 5_000,
  });

  let simulation: SimulatedDiscord | undefined;
  if (config.demo ?? !config.token) {
    simulation = await startSimulatedDiscord({ rate: config.simulationEventsPerSecond ?? 20, logger, oauth: config.simulatedOAuth });
  }
  const bot = createDiscordBot({
    token: simulation?.token ?? config.token!,
    apiUrl: simulation?.apiUrl ?? config.apiUrl ?? "https://discord.com/api",
    logger,
    ingest: writer,
    readMessageContent: config.readMessageContent ?? false,
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await bot.stop();
      await simulation?.stop();
      // An unfinished replay leaves its file for the next start (already stored batches are no-ops then).
      const replayed = replay.stop();
      await writer.close();
      await invalidation.close();
      logger.info({ ingest: writer.stats(), spillReplay: replayed, invalidation: invalidation.stats() }, "discord side stopped");
    })();
    return stopping;
  };

  try {
    await bot.start();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    simulated: Boolean(simulation),
    simulatedGuildIds: simulation?.guildIds ?? [],
    cacheInvalidation: invalidation,
    simulatedDiscord: simulation ? { apiUrl: simulation.apiUrl, authorizeUrl: simulation.authorizeUrl, botToken: simulation.token } : undefined,
    stats: () => ({ simulated: Boolean(simulation), listeners: bot.stats(), memberFetch: bot.memberFetchStats(), ingest: writer.stats(), invalidation: invalidation.stats() }),
    stop,
  };
}
