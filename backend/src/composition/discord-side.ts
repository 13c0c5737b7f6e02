import type { AppConfig } from "../config/config.ts";
import type { PrismaClient } from "../db/prisma-client.ts";
import { createIngestRepository } from "../ingest/ingest-repository.ts";
import { IngestSpillFile } from "../ingest/ingest-spill-file.ts";
import { IngestionWriter, type IngestionWriterOptions } from "../ingest/ingestion-writer.ts";
import { replaySpill } from "../ingest/spill-replay.ts";
import type { IngestEventKind } from "../ingest/event-records.ts";
import {
  CacheInvalidationService,
  type CacheInvalidationOptions,
  type TagInvalidator,
} from "../invalidation/cache-invalidation-service.ts";
import type { Logger } from "../logging/logger.ts";
import { analyticsUpdateChannel } from "../pubsub/analytics-update.ts";
import type { Publisher } from "../pubsub/pubsub.ts";
import { startDemoDiscordIfEnabled } from "./demo-mode.ts";
import type { DiscordSideStats } from "./discord-side-stats.ts";
import { createDiscordBot } from "../bot/discord-bot.ts";

export type { DiscordSideStats } from "./discord-side-stats.ts";

/** Configuration of the Discord side: the config's `discord` section (every default is in config/config.ts). */
export type DiscordSideConfig = AppConfig["discord"];

/** What `startDiscordSide` needs. */
export interface DiscordSideDependencies {
  config: DiscordSideConfig;
  /** Key prefix naming the analytics update channel `<prefix>:analytics:update` (REDIS_KEY_PREFIX). */
  keyPrefix: string;
  /** Demo mode: serve "Log in with Discord" on the fake Discord with this OAuth2 client (default none). */
  simulatedOAuth?: { clientId: string; clientSecret: string } | undefined;
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
 * In demo mode it first starts the simulated Discord (the one switch, demo-mode.ts) and runs the same bot against it.
 */
export async function startDiscordSide(deps: DiscordSideDependencies): Promise<DiscordSide> {
  const { config, logger } = deps;
  const invalidation = new CacheInvalidationService({
    cache: deps.cache,
    logger,
    ...(deps.publisher ? { publisher: deps.publisher, channel: analyticsUpdateChannel(deps.keyPrefix) } : {}),
    coalesceMs: config.invalidationCoalesceMs,
    mode: config.invalidationMode,
    ...(deps.recompute && deps.analyticsUpdates
      ? { recompute: deps.recompute, analyticsUpdates: deps.analyticsUpdates }
      : {}),
  });
  const repository = createIngestRepository(deps.prisma);
  const spill = new IngestSpillFile(config.ingestSpillDir);
  const onDurable = (guildId: string, kinds: IngestEventKind[], events: number) =>
    invalidation.notify(guildId, kinds, events);
  const writer = new IngestionWriter({
    repository,
    logger,
    spill,
    onDurable,
    ...(deps.onDurableRows ? { onDurableRows: deps.onDurableRows } : {}),
    batchSize: config.ingestBatchSize,
    flushIntervalMs: config.ingestFlushIntervalMs,
    maxBufferedRows: config.ingestMaxBufferedRows,
    retryBaseMs: config.ingestRetryBaseMs,
    retryMaxMs: config.ingestRetryMaxMs,
    closeTimeoutMs: config.ingestCloseTimeoutMs,
  });

  // Rows an earlier shutdown could not write: replayed beside live ingestion (retried while PostgreSQL is down).
  const replay = replaySpill({
    spill,
    repository,
    logger,
    onDurable,
    retryBaseMs: config.ingestRetryBaseMs,
    retryMaxMs: config.ingestRetryMaxMs,
  });

  const simulation = await startDemoDiscordIfEnabled(config, logger, deps.simulatedOAuth);
  const bot = createDiscordBot({
    token: simulation?.token ?? config.token!,
    apiUrl: simulation?.apiUrl ?? config.apiUrl,
    logger,
    ingest: writer,
    readMessageContent: config.readMessageContent,
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
      logger.info(
        { ingest: writer.stats(), spillReplay: replayed, invalidation: invalidation.stats() },
        "discord side stopped",
      );
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
    simulatedDiscord: simulation
      ? { apiUrl: simulation.apiUrl, authorizeUrl: simulation.authorizeUrl, botToken: simulation.token }
      : undefined,
    stats: () => ({
      simulated: Boolean(simulation),
      listeners: bot.stats(),
      memberFetch: bot.memberFetchStats(),
      ingest: writer.stats(),
      invalidation: invalidation.stats(),
    }),
    stop,
  };
}
