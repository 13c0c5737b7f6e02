import request from "supertest";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createAnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { createCache, type SpyCache } from "../../../backend/src/cache/index.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { analyticsRouter } from "../../../backend/src/http/analytics-routes.ts";
import { createApp } from "../../../backend/src/http/app.ts";
import {
  createRedisConnections,
  waitForRedisReady,
  type RedisConnections,
} from "../../../backend/src/redis/redis-connections.ts";
import { messageCreateData, messageDeleteData } from "../../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { SnowflakeGenerator } from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import { startBotPipeline, type BotPipeline } from "../../support/bot-pipeline.ts";
import { testGuild, type TestGuild } from "../../support/fake-discord-guild.ts";
import {
  randomSnowflake,
  TEST_COMMAND_TIMEOUT_MS,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  testLogger,
  uniquePrefix,
} from "../../support/test-env.ts";

/**
 * The seventh analytic end to end, added by its definition alone: the route, auth, validation, cache and
 * event-driven invalidation all come from the definition. Real Discord events (fake Discord -> real bot -> real
 * PostgreSQL) invalidate it through the real cache on Redis.
 */
describe("GET /api/analytics/deletions on real PostgreSQL and Redis, fed by the real bot", () => {
  let prisma: PrismaClient;
  let redis: RedisConnections;
  let cache: SpyCache;
  let keys: ApiKeyService;
  let pipeline: BotPipeline;
  let app: ReturnType<typeof createApp>;
  let t: TestGuild;
  let guildKey: string;
  const ids = new SnowflakeGenerator();
  const fake = () => pipeline.fake;
  /** GET the deletions route with the guild's key (null: no key). */
  const get = (query: string, key: string | null = guildKey) => {
    const req = request(app).get(`/api/analytics/deletions?${query}`);
    return key ? req.set("authorization", `Bearer ${key}`) : req;
  };
  /**
   * Dispatches events, waits until the bot handed `count` more records to the writer, they are durable and the
   * invalidation service was told of them, then ends its coalescing window (the invalidation is done on return).
   */
  const ingest = async (count: number, dispatch: () => void) => {
    const accepted = pipeline.writer.stats().accepted;
    const reported = pipeline.invalidation.stats().events;
    dispatch();
    await vi.waitFor(() => expect(pipeline.writer.stats().accepted).toBe(accepted + count), {
      timeout: 10_000,
      interval: 5,
    });
    await pipeline.writer.flush();
    await vi.waitFor(() => expect(pipeline.invalidation.stats().events).toBe(reported + count), {
      timeout: 10_000,
      interval: 5,
    });
    await pipeline.invalidation.flush();
  };

  beforeAll(async () => {
    t = testGuild();
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
    redis = createRedisConnections(
      { url: TEST_REDIS_URL, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS, connectionName: uniquePrefix("deletions") },
      testLogger(),
    );
    await waitForRedisReady(redis.client, 5_000);
    cache = createCache({
      redis: redis.client,
      subscriber: redis.subscriber,
      prefix: uniquePrefix("deletions"),
      logger: testLogger(),
    });
    await cache.ready(5_000);
    keys = new ApiKeyService({ prisma, logger: testLogger() });
    const router = analyticsRouter({ cache, analytics: createAnalyticsService({ prisma }), auth: keys });
    app = createApp({ logger: testLogger(), readinessChecks: [], routers: [{ path: "/api", router }] });
    pipeline = await startBotPipeline({ prisma, cache, guilds: [t], token: "deletions", coalesceMs: 50 });
    guildKey = (await keys.createKey({ name: "deletions guild", guildIds: [t.guild.id] })).secret;
  });
  afterAll(async () => {
    await pipeline?.close();
    await keys?.whenIdle();
    await cache?.close();
    await redis?.close();
    await prisma?.$disconnect();
  });

  it("answers 401, 400 naming the field, 403 and 404 like the other analytics", async () => {
    const none = await get(`guildId=${t.guild.id}`, null).expect(401);
    expect(none.body.error.code).toBe("E_UNAUTHORIZED");
    for (const [field, query] of [
      ["guildId", "guildId=12"],
      ["since", `guildId=${t.guild.id}&since=91d`],
      ["limit", `guildId=${t.guild.id}&limit=0`],
    ]) {
      const bad = await get(query!).expect(400);
      expect(bad.body.error).toMatchObject({ code: "E_VALIDATION", details: [{ field }] });
    }
    expect((await get(`guildId=${randomSnowflake()}`).expect(403)).body.error.code).toBe("E_FORBIDDEN");
    const unknown = await request(app)
      .get(`/api/analytics/spies?guildId=${t.guild.id}`)
      .set("authorization", `Bearer ${guildKey}`)
      .expect(404);
    expect(unknown.body.error.message).toContain("deletions");
  });

  it("counts a member's deletions from the bot; cached, then a message delete invalidates it", async () => {
    const [alice] = t.humans;
    const posted = [ids.next(), ids.next(), ids.next(), ids.next()];
    await ingest(5, () => {
      for (const id of posted)
        fake().dispatch(
          "MESSAGE_CREATE",
          messageCreateData({ id, channelId: t.channelIds[0], guildId: t.guild.id, author: alice, content: "hi" }),
        );
      fake().dispatch(
        "MESSAGE_DELETE",
        messageDeleteData({ id: posted[0]!, channelId: t.channelIds[0], guildId: t.guild.id }),
      );
    });
    const query = `guildId=${t.guild.id}&since=1h`;
    const miss = await get(query).expect(200);
    expect(miss.headers["x-cache"]).toBe("MISS");
    expect(miss.body).toMatchObject({ type: "deletions", guildId: t.guild.id, total: 1, flaggedTotal: 0 });
    expect(miss.body.items).toEqual([{ userId: alice.id, deletedCount: 1, messageCount: 4, deletionRatio: 0.25 }]);
    expect((await get(query).expect(200)).headers["x-cache"]).toBe("HIT");

    // One more deletion: durable -> the guild's deletions tag is invalidated -> the next reads see 2.
    const invalidations = pipeline.invalidation.stats().invalidations;
    await ingest(1, () =>
      fake().dispatch(
        "MESSAGE_DELETE",
        messageDeleteData({ id: posted[1]!, channelId: t.channelIds[0], guildId: t.guild.id }),
      ),
    );
    // Soft invalidation refreshes the entry at once (or serves it STALE while one refresh runs): well within the
    // 5 min TTL, the new deletion is in the answer, which only the invalidation can explain.
    await vi.waitFor(
      async () =>
        expect((await get(query).expect(200)).body.items[0]).toMatchObject({
          deletedCount: 2,
          messageCount: 4,
          deletionRatio: 0.5,
        }),
      { timeout: 5_000, interval: 50 },
    );
    expect(pipeline.invalidation.stats().invalidations).toBe(invalidations + 1);
  });
});
