import { createAnalyticsService, type AnalyticsService } from "../analytics/analytics-service.ts";
import type { AppConfig } from "../config/config.ts";
import { createPrismaClient, type PrismaClient } from "../db/prisma-client.ts";
import type { Logger } from "../logging/logger.ts";
import { createRedisConnections, type RedisConnections } from "../redis/redis-connections.ts";

/**
 * The Prisma client from DATABASE_* (pool size, statement, connect and query timeouts, keepalive). The service uses
 * the configured pool; a CLI command passes a small `poolMax` of its own and keeps every timeout.
 */
export function openDatabase(config: AppConfig, poolMax = config.database.poolMax): PrismaClient {
  return createPrismaClient({
    url: config.database.url,
    poolMax,
    statementTimeoutMs: config.database.statementTimeoutMs,
    connectionTimeoutMs: config.database.connectTimeoutMs,
    queryTimeoutMs: config.database.queryTimeoutMs,
    keepAliveDelayMs: config.database.keepAliveDelayMs,
  });
}

/** The command and subscriber Redis connections from REDIS_*; `connectionName` tells the CLI's apart in CLIENT LIST. */
export function openRedis(config: AppConfig, logger: Logger, connectionName?: string): RedisConnections {
  return createRedisConnections(connectionName ? { ...config.redis, connectionName } : config.redis, logger);
}

/** The analytics service on `prisma`, its concurrent and queued query bounds from ANALYTICS_*. */
export function buildAnalyticsService(config: AppConfig, prisma: PrismaClient): AnalyticsService {
  return createAnalyticsService({
    prisma,
    limits: { maxConcurrent: config.analytics.maxConcurrentQueries, maxQueued: config.analytics.maxQueuedQueries },
  });
}
