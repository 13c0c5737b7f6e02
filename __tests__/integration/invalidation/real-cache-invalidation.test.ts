import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  analyticsCacheKey,
  analyticsTags,
  type AnalyticsType,
} from "../../../backend/src/analytics/analytics-catalog.ts";
import { analyticDefinition } from "../../../backend/src/analytics/definitions/index.ts";
import { createCache, type SpyCache } from "../../../backend/src/cache/index.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import type { IngestionWriter } from "../../../backend/src/ingest/ingestion-writer.ts";
import type { CacheInvalidationService } from "../../../backend/src/invalidation/cache-invalidation-service.ts";
import {
  createRedisConnections,
  waitForRedisReady,
  type RedisConnections,
} from "../../../backend/src/redis/redis-connections.ts";
import type { FakeDiscord } from "../../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import { startBotPipeline, type BotPipeline } from "../../support/bot-pipeline.ts";
import { messageCreateData } from "../../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { SnowflakeGenerator } from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import { testGuild, type TestGuild } from "../../support/fake-discord-guild.ts";
import { TEST_DATABASE_URL, TEST_REDIS_URL, testLogger, uniquePrefix } from "../../support/test-env.ts";

describe("event-driven invalidation through the real cache layer (Redis), from the real bot", () => {
  const COALESCE_MS = 250;
  const since = new Date("2026-11-01T00:00:00Z");
  let redis: RedisConnections;
  let cache: SpyCache;
  let prisma: PrismaClient;
  let writer: IngestionWriter;
  let invalidation: CacheInvalidationService;
  let pipeline: BotPipeline;
  let fake: FakeDiscord;
  let busy: TestGuild;
  let quiet: TestGuild;
  const loads: string[] = [];

  /** Reads an analytic through the cache like the API does; the loader records that it ran. */
  const read = (type: AnalyticsType, guildId: string) =>
    cache.rememberWithMeta(
      analyticsCacheKey(type, guildId, since),
      analyticDefinition(type).ttlSeconds,
      async () => {
        loads.push(`${type}:${guildId}`);
        return { type, guildId, computedAt: performance.now() };
      },
      { tags: analyticsTags(type, guildId) },
    );

  beforeAll(async () => {
    busy = testGuild();
    quiet = testGuild();
    redis = createRedisConnections({ url: TEST_REDIS_URL, connectionName: uniquePrefix("d1-cache") }, testLogger());
    await waitForRedisReady(redis.client, 5_000);
    cache = createCache({
      redis: redis.client,
      subscriber: redis.subscriber,
      prefix: uniquePrefix("d1-cache"),
      logger: testLogger(),
    });
    await cache.ready(5_000);
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
    pipeline = await startBotPipeline({
      prisma,
      cache,
      guilds: [busy, quiet],
      token: "cache",
      coalesceMs: COALESCE_MS,
    });
    ({ fake, writer, invalidation } = pipeline);
  });
  afterAll(async () => {
    await pipeline?.close();
    await cache?.close();
    await redis?.close();
    await prisma?.$disconnect();
  });

  it("10,000 messages in one guild: its message-based analytics recompute, its roles and the other guild keep hitting", async () => {
    for (const [type, guild] of [
      ["ghosts", busy],
      ["heatmap", busy],
      ["roles", busy],
      ["ghosts", quiet],
    ] as const) {
      expect((await read(type, guild.guild.id)).status).toBe("miss");
      expect((await read(type, guild.guild.id)).status).toBe("hit");
    }
    loads.length = 0;

    const ids = new SnowflakeGenerator();
    const started = performance.now();
    for (let i = 0; i < 10_000; i += 1) {
      fake.dispatch(
        "MESSAGE_CREATE",
        messageCreateData({
          id: ids.next(),
          channelId: busy.channelIds[i % 2]!,
          guildId: busy.guild.id,
          author: busy.humans[i % 3]!,
          content: "hi",
        }),
      );
    }
    await vi.waitFor(() => expect(writer.stats().written).toBe(10_000), { timeout: 20_000, interval: 20 });
    await vi.waitFor(() => expect(invalidation.stats().pendingGuilds).toBe(0), { timeout: 5_000, interval: 10 });
    const elapsed = performance.now() - started;
    // Wait for any invalidation still in flight (the window closed; its call may not have resolved yet).
    await invalidation.flush();

    expect(await prisma.messageEvent.count({ where: { guildId: busy.guild.id } })).toBe(10_000);
    expect(invalidation.stats().invalidations).toBeLessThanOrEqual(Math.ceil(elapsed / COALESCE_MS) + 1);
    expect(invalidation.stats().errors).toBe(0);

    // Event-driven invalidation is soft and the cache refreshes the keys it served lately at once, without waiting
    // for a reader (refreshOnSoftInvalidation): each window's invalidation recomputes the busy guild's
    // message-based analytics in the background, never its roles nor the other guild.
    await vi.waitFor(
      () => expect(new Set(loads)).toEqual(new Set([`ghosts:${busy.guild.id}`, `heatmap:${busy.guild.id}`])),
      { timeout: 5_000, interval: 10 },
    );
    expect(loads.length).toBeLessThanOrEqual(2 * invalidation.stats().invalidations);
    expect((await read("roles", busy.guild.id)).status).toBe("hit");
    expect((await read("ghosts", quiet.guild.id)).status).toBe("hit");
    // Once the last refresh is stored, the busy guild's analytics are hits again (stale while it runs, miss past S).
    for (const type of ["ghosts", "heatmap"] as const) {
      await vi.waitFor(async () => expect((await read(type, busy.guild.id)).status).toBe("hit"), {
        timeout: 5_000,
        interval: 20,
      });
    }
  });
});
