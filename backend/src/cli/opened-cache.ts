import { pino } from "pino";
import type { AnalyticsService } from "../analytics/analytics-service.ts";
import type { SpyCache } from "../cache/index.ts";
import type { AppConfig } from "../config/config.ts";
import type { PrismaClient } from "../db/prisma-client.ts";
import { buildAnalyticsService, openDatabase, openRedis } from "../composition/connections.ts";
import { AppError } from "../errors.ts";
import { REDACTED_PATHS } from "../logging/logger.ts";
import type { KeyBuilder } from "../cache/keys/key-builder.ts";
import { cacheKeys, createServiceOps, type ServiceOps } from "../ops/service-ops.ts";
import { waitForRedisReady, type RedisClient } from "../redis/redis-connections.ts";
import { createServiceCacheWithStats } from "../composition/service-cache.ts";

/** The cache opened for one CLI command (and, for `warm`, the analytics service), and how to close them. */
export interface OpenedCache {
  cache: SpyCache;
  /** The invalidation log, alert history, health score and cleanup on the same Redis. */
  ops: ServiceOps;
  /** The command connection (for SCANs of the analytics entries). */
  redis: RedisClient;
  /** The cache's key builder (same prefix and version as the service's). */
  cacheKeys: KeyBuilder;
  /** Opens the analytics service on PostgreSQL (only `warm` needs it). */
  analytics(): AnalyticsService;
  close(): Promise<void>;
}

/**
 * Opens the service's cache (same prefix, version and options as the service, so it reads and writes the same
 * entries and fleet statistics) on the configured Redis, and PostgreSQL only if asked. Waits for Redis (at most
 * REDIS_CONNECT_TIMEOUT_MS) and the cache's bus (at most 5 s more); logs (warnings only) go to stderr.
 */
export async function openServiceCache(config: AppConfig): Promise<OpenedCache> {
  const logger = pino({ level: "warn", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, pino.destination(2));
  const redis = openRedis(config, logger, "spywatcher-cli");
  const unavailable = (error: unknown) =>
    new AppError(
      "E_CACHE_UNAVAILABLE",
      `Redis at the configured REDIS_URL did not answer: ${(error as Error).message}`,
    );
  try {
    // The cache is built only once Redis answers, so a down Redis is not recorded as cache errors in the fleet stats.
    await waitForRedisReady(redis.client, config.redis.connectTimeoutMs);
  } catch (error) {
    await redis.close();
    throw unavailable(error);
  }
  const { cache, stats, lockCounters } = createServiceCacheWithStats(config, redis, logger);
  const ops = createServiceOps(config, { redis: redis.client, recorder: stats, lockCounters }, logger);
  let prisma: PrismaClient | undefined;
  const close = async () => {
    await ops.close();
    await cache.close();
    await redis.close();
    await prisma?.$disconnect();
  };
  try {
    await cache.ready();
  } catch (error) {
    await close();
    throw unavailable(error);
  }
  return {
    cache,
    ops,
    redis: redis.client,
    cacheKeys: cacheKeys(config),
    analytics: () => {
      prisma ??= openDatabase(config, 2);
      return buildAnalyticsService(config, prisma);
    },
    close,
  };
}
