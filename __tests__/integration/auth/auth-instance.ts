import { EventEmitter, once } from "node:events";
import type { Express } from "express";
import request from "supertest";
import { createAnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import { ApiKeyService, type ApiKeyServiceOptions } from "../../../backend/src/auth/api-key-service.ts";
import { redisRevocationBroadcaster } from "../../../backend/src/auth/key-revocation-broadcast.ts";
import {
  listenForKeyRevocations,
  type KeyRevocationListener,
} from "../../../backend/src/auth/key-revocation-listener.ts";
import { createCache, type SpyCache } from "../../../backend/src/cache/index.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { analyticsRouter } from "../../../backend/src/http/analytics-routes.ts";
import { createApp } from "../../../backend/src/http/app.ts";
import type { Logger } from "../../../backend/src/logging/logger.ts";
import {
  createRedisConnections,
  waitForRedisReady,
  type RedisConnections,
} from "../../../backend/src/redis/redis-connections.ts";
import { TEST_COMMAND_TIMEOUT_MS, TEST_REDIS_URL, testLogger } from "../../support/test-env.ts";
import { SINCE, UNTIL } from "../../support/analytics-fixture.ts";

/** One API instance wired as service.ts wires it: its own Prisma client, Redis connections, cache and key service. */
export interface AuthInstance {
  app: Express;
  keys: ApiKeyService;
  cache: SpyCache;
  redis: RedisConnections;
  prisma: PrismaClient;
  revocations: KeyRevocationListener;
  /** Resolves when this instance has applied a broadcast revocation of `keyId` (call before revoking). */
  nextRevocation(keyId: string): Promise<void>;
  /** GET an analytic of `guildId` over a fixed window (so its cache key never changes) with `key`. */
  getAnalytic(guildId: string, key: string): request.Test;
  close(): Promise<void>;
}

/** Options of `startAuthInstance`. */
export interface AuthInstanceOptions {
  /** PostgreSQL URL of this instance (a proxy's, to cut it). */
  databaseUrl: string;
  /** REDIS_KEY_PREFIX shared by the instances of one "fleet". */
  keyPrefix: string;
  /** The key service's clock (default Date.now). */
  now?: () => number;
  staleIfErrorMs?: number;
  lookupTimeoutMs?: number;
  logger?: Logger;
  /** More key service options (flood limits, cache bounds). */
  service?: Partial<Omit<ApiKeyServiceOptions, "prisma" | "logger">>;
  /** Express "trust proxy" (TRUST_PROXY), default false. */
  trustProxy?: boolean;
}

/** Starts an instance and waits until its Redis is ready and it listens for revocations. */
export async function startAuthInstance(options: AuthInstanceOptions): Promise<AuthInstance> {
  const logger = options.logger ?? testLogger();
  const prisma = createPrismaClient({ url: options.databaseUrl, poolMax: 2, connectionTimeoutMs: 1_000 });
  const redis = createRedisConnections(
    { url: TEST_REDIS_URL, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS, connectTimeoutMs: 500 },
    logger,
  );
  const cache = createCache({
    redis: redis.client,
    subscriber: redis.subscriber,
    prefix: `${options.keyPrefix}:cache`,
    logger,
  });
  const keys = new ApiKeyService({
    prisma,
    logger,
    ...(options.now ? { now: options.now } : {}),
    ...(options.staleIfErrorMs !== undefined ? { staleIfErrorMs: options.staleIfErrorMs } : {}),
    ...(options.lookupTimeoutMs !== undefined ? { lookupTimeoutMs: options.lookupTimeoutMs } : {}),
    revocationBroadcaster: redisRevocationBroadcaster({
      client: redis.client,
      keyPrefix: options.keyPrefix,
      timeoutMs: 2_000,
    }),
    ...options.service,
  });
  const applied = new EventEmitter();
  const revocations = listenForKeyRevocations({
    connection: redis.subscriber,
    keyPrefix: options.keyPrefix,
    keys,
    logger,
    onRevoked: (keyId) => applied.emit(keyId),
  });
  await waitForRedisReady(redis.client, 5_000);
  await revocations.subscribed;
  const router = analyticsRouter({
    cache,
    analytics: createAnalyticsService({ prisma }),
    auth: keys,
    now: () => UNTIL,
  });
  const app = createApp({
    logger,
    readinessChecks: [],
    routers: [{ path: "/api", router }],
    trustProxy: options.trustProxy ?? false,
  });
  return {
    app,
    keys,
    cache,
    redis,
    prisma,
    revocations,
    nextRevocation: (keyId) => once(applied, keyId).then(() => undefined),
    getAnalytic: (guildId, key) =>
      request(app)
        .get(`/api/analytics/ghosts?guildId=${guildId}&since=${SINCE.toISOString()}`)
        .set("authorization", `Bearer ${key}`),
    close: async () => {
      await keys.whenIdle();
      await revocations.close();
      await cache.close();
      await redis.close();
      await prisma.$disconnect();
    },
  };
}
