import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
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
import {
  randomSnowflake,
  TEST_COMMAND_TIMEOUT_MS,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  testLogger,
  uniquePrefix,
} from "../../support/test-env.ts";

describe("a slow analytics loader past CACHE_HARD_TIMEOUT", () => {
  let prisma: PrismaClient;
  let redis: RedisConnections;
  let cache: SpyCache;
  let keys: ApiKeyService;
  const slowTimers = new Set<NodeJS.Timeout>();

  beforeAll(async () => {
    const logger = testLogger();
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    redis = createRedisConnections(
      { url: TEST_REDIS_URL, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS, connectTimeoutMs: 500 },
      logger,
    );
    await waitForRedisReady(redis.client, 5_000);
    cache = createCache({
      redis: redis.client,
      subscriber: redis.subscriber,
      prefix: uniquePrefix("hard-timeout"),
      logger,
      hardTimeout: "100ms",
    });
    keys = new ApiKeyService({ prisma, logger });
  });
  afterAll(async () => {
    for (const timer of slowTimers) clearTimeout(timer);
    await keys?.whenIdle();
    await cache?.close();
    await redis?.close();
    await prisma?.$disconnect();
  });

  it("answers 504 E_FACTORY_HARD_TIMEOUT, not 500 E_INTERNAL", async () => {
    // A computation that takes 5 s (a PostgreSQL query stuck behind a lock): the cache gives up at 100 ms.
    const analytics: AnalyticsService = {
      compute: () => new Promise((resolve) => slowTimers.add(setTimeout(() => resolve([] as never), 5_000))),
      usesRollups: async () => false,
    };
    const app = createApp({
      logger: testLogger(),
      readinessChecks: [],
      routers: [{ path: "/api", router: analyticsRouter({ cache, analytics, auth: keys }) }],
    });
    const guildId = randomSnowflake();
    const { secret } = await keys.createKey({ name: "hard timeout", guildIds: [guildId] });
    const startedAt = performance.now();
    const response = await request(app)
      .get(`/api/analytics/ghosts?guildId=${guildId}`)
      .set("authorization", `Bearer ${secret}`);
    // It did not wait for the 5 s computation.
    expect(performance.now() - startedAt).toBeLessThan(4_000);
    expect(response.status).toBe(504);
    expect(response.body.error.code).toBe("E_FACTORY_HARD_TIMEOUT");
  });
});
