import type { Server } from "node:http";
import type { AppConfig } from "./config/config.ts";
import { runMigrations } from "./db/migrator.ts";
import { createPrismaClient, type PrismaClient } from "./db/prisma-client.ts";
import { postgresReadinessCheck, redisReadinessCheck } from "./health/readiness-checks.ts";
import { createApp } from "./http/app.ts";
import { boundPort, closeServer, listen } from "./lifecycle/http-server.ts";
import type { Logger } from "./logging/logger.ts";
import { createRedisConnections, type RedisConnections } from "./redis/redis-connections.ts";

/** A running SpyWatcher service. */
export interface RunningService {
  server: Server;
  port: number;
  prisma: PrismaClient;
  redis: RedisConnections;
  /** Graceful stop: stop accepting, drain requests, then close Discord, Redis and PostgreSQL. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Wires every part of the service from one configuration: migrations, one Prisma client, one Redis
 * connection set, the HTTP app. The only place that knows how the parts fit together.
 */
export async function startService(config: AppConfig, logger: Logger): Promise<RunningService> {
  if (config.database.migrateOnStart) {
    const result = await runMigrations({ databaseUrl: config.database.url, logger });
    logger.info({ applied: result.applied.length, alreadyApplied: result.alreadyApplied.length }, "migrations done");
  }
  const prisma = createPrismaClient({
    url: config.database.url,
    poolMax: config.database.poolMax,
    statementTimeoutMs: config.database.statementTimeoutMs,
  });
  const redis = createRedisConnections(config.redis, logger);

  const app = createApp({
    logger,
    readinessChecks: [redisReadinessCheck(redis.client), postgresReadinessCheck(prisma)],
    healthCheckTimeoutMs: config.health.checkTimeoutMs,
    trustProxy: config.http.trustProxy,
  });
  const server = await listen(app, config.http.port, config.http.host);
  const port = boundPort(server);
  logger.info({ host: config.http.host, port }, "http server listening");

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await closeServer(server, config.shutdownTimeoutMs);
      await redis.close();
      await prisma.$disconnect();
      logger.info("service stopped");
    })();
    return stopping;
  };
  return { server, port, prisma, redis, stop };
}
