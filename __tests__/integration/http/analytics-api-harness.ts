import type { Express } from "express";
import { createAnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { createCache, type SpyCache } from "../../../backend/src/cache/index.ts";
import type { PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { analyticsRouter } from "../../../backend/src/http/analytics-routes.ts";
import { createApp } from "../../../backend/src/http/app.ts";
import { apiKeyRateLimit } from "../../../backend/src/http/middleware/api-key-rate-limit.ts";
import { createRedisConnections, type RedisConnections } from "../../../backend/src/redis/redis-connections.ts";
import { TEST_COMMAND_TIMEOUT_MS, testLogger, uniquePrefix } from "../../support/test-env.ts";

/** One in-process API (analytics routes behind auth and rate limit) on real Redis and PostgreSQL. */
export interface ApiHarness {
  app: Express;
  cache: SpyCache;
  keys: ApiKeyService;
  redis: RedisConnections;
  close(): Promise<void>;
}

/** Builds the app as service.ts would, on its own Redis connections, cache prefix and rate-limit prefix. */
export function buildApi(options: {
  prisma: PrismaClient;
  redisUrl: string;
  now?: () => Date;
  rateLimitPerMinute?: number;
}): ApiHarness {
  const logger = testLogger();
  const redis = createRedisConnections(
    { url: options.redisUrl, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS, connectTimeoutMs: 500 },
    logger,
  );
  const prefix = uniquePrefix("api");
  const cache = createCache({ redis: redis.client, subscriber: redis.subscriber, prefix, logger });
  const keys = new ApiKeyService({ prisma: options.prisma, logger });
  const router = analyticsRouter({
    cache,
    analytics: createAnalyticsService({ prisma: options.prisma }),
    auth: keys,
    afterAuth: [
      apiKeyRateLimit({
        redis: redis.client,
        logger,
        limit: options.rateLimitPerMinute ?? 10_000,
        prefix: `${prefix}:ratelimit:`,
      }),
    ],
    ...(options.now ? { now: options.now } : {}),
  });
  const app = createApp({ logger, readinessChecks: [], routers: [{ path: "/api", router }] });
  return {
    app,
    cache,
    keys,
    redis,
    close: async () => {
      await keys.whenIdle();
      await cache.close();
      await redis.close();
    },
  };
}
