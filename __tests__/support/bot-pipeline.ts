import { createDiscordBot, type DiscordBot } from "../../backend/src/bot/discord-bot.ts";
import type { PrismaClient } from "../../backend/src/db/prisma-client.ts";
import { createIngestRepository } from "../../backend/src/ingest/ingest-repository.ts";
import { IngestionWriter, type IngestionWriterOptions } from "../../backend/src/ingest/ingestion-writer.ts";
import {
  CacheInvalidationService,
  type TagInvalidator,
} from "../../backend/src/invalidation/cache-invalidation-service.ts";
import { startFakeDiscord, type FakeDiscord } from "../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import type { TestGuild } from "./fake-discord-guild.ts";
import { testLogger } from "./test-env.ts";

/** The Discord half wired by hand for a test: fake Discord -> real bot -> ingestion writer -> invalidation. */
export interface BotPipeline {
  fake: FakeDiscord;
  bot: DiscordBot;
  writer: IngestionWriter;
  invalidation: CacheInvalidationService;
  /** Stops the bot and the fake Discord, drains the writer, flushes pending invalidations. */
  close(): Promise<void>;
}

/** Starts the pipeline on real PostgreSQL, invalidating through `cache` (a real cache or a recording one). */
export async function startBotPipeline(options: {
  prisma: PrismaClient;
  cache: TagInvalidator;
  guilds: TestGuild[];
  token: string;
  coalesceMs: number;
  /** The writer's durable-rows hook (e.g. the activity recorder). */
  onDurableRows?: IngestionWriterOptions["onDurableRows"];
}): Promise<BotPipeline> {
  const invalidation = new CacheInvalidationService({
    cache: options.cache,
    logger: testLogger(),
    coalesceMs: options.coalesceMs,
  });
  const writer = new IngestionWriter({
    repository: createIngestRepository(options.prisma),
    logger: testLogger(),
    onDurable: (guildId, kinds, events) => invalidation.notify(guildId, kinds, events),
    flushIntervalMs: 50,
    ...(options.onDurableRows ? { onDurableRows: options.onDurableRows } : {}),
  });
  const fake = await startFakeDiscord({ guilds: options.guilds.map((guild) => guild.guild) });
  const bot = createDiscordBot({ token: options.token, apiUrl: fake.apiUrl, logger: testLogger(), ingest: writer });
  await bot.start();
  return {
    fake,
    bot,
    writer,
    invalidation,
    async close() {
      await bot.stop();
      await fake.close();
      await writer.close();
      await invalidation.close();
    },
  };
}
