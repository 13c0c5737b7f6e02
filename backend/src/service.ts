import type { Server } from "node:http";
import type { SpyCache } from "./cache/index.ts";
import { startDiscordSide, type DiscordSide } from "./composition/discord-side.ts";
import { createActivityService, type ActivityService } from "./activity/activity-service.ts";
import { ApiKeyService } from "./auth/api-key-service.ts";
import { redisRevocationBroadcaster } from "./auth/key-revocation-broadcast.ts";
import { listenForKeyRevocations } from "./auth/key-revocation-listener.ts";
import { apiKeyUserId } from "./auth/principal.ts";
import { createSignInSide, demoOAuthClient, type SignInSide } from "./auth/sign-in-side.ts";
import type { AppConfig } from "./config/config.ts";
import { runMigrations } from "./db/migrator.ts";
import type { PrismaClient } from "./db/prisma-client.ts";
import { buildAnalyticsService, openDatabase, openRedis } from "./composition/connections.ts";
import { createServiceHealth } from "./health/service-health.ts";
import { adminCacheRouter } from "./http/admin-cache-routes.ts";
import { adminOpsRouter } from "./http/admin-ops-routes.ts";
import { activityRouter } from "./http/activity-routes.ts";
import { analyticsFastPath, analyticsRouter } from "./http/analytics-routes.ts";
import { healthDetailsRouter } from "./http/health-details-routes.ts";
import { createApp } from "./http/app.ts";
import { authRouter } from "./http/auth-routes.ts";
import { sessionRouter } from "./http/session-routes.ts";
import { apiKeyRateLimit, rateLimitChain } from "./http/middleware/api-key-rate-limit.ts";
import { withTimeout } from "./lib/with-timeout.ts";
import { boundPort, closeServer, listen } from "./lifecycle/http-server.ts";
import { shutdownStages, type ShutdownStageName } from "./lifecycle/shutdown-budget.ts";
import type { Logger } from "./logging/logger.ts";
import type { AlertMonitor } from "./monitoring/alert-monitor.ts";
import { alertsRouter } from "./monitoring/alert-routes.ts";
import { createServiceAlertMonitor } from "./monitoring/alert-service-monitor.ts";
import { metricsRouter } from "./monitoring/metrics-routes.ts";
import { createServiceMetrics } from "./monitoring/service-metrics.ts";
import { loggedEventInvalidator } from "./ops/logged-invalidations.ts";
import { registerOpsMetrics } from "./ops/ops-metrics.ts";
import { createServiceOps, type ServiceOps } from "./ops/service-ops.ts";
import { liveCountersChannel } from "./activity/live-counters-channel.ts";
import { createPublisher } from "./pubsub/pubsub.ts";
import { PubSubService } from "./pubsub/pubsub-service.ts";
import { recomputeAnalytics } from "./analytics/cached-analytics.ts";
import type { DocumentedServices } from "./documented-services.ts";
import { attachRealtime, type RealtimeServer } from "./realtime/realtime-server.ts";
import type { RedisConnections } from "./redis/redis-connections.ts";
import { createServiceCacheWithStats } from "./composition/service-cache.ts";

/** A running SpyWatcher service. */
export interface RunningService {
  server: Server;
  port: number;
  prisma: PrismaClient;
  redis: RedisConnections;
  cache: SpyCache;
  apiKeys: ApiKeyService;
  /** Sessions and "Log in with Discord" (docs/auth.md). */
  signInSide: SignInSide;
  /** The Discord side (bot, ingestion, invalidation), or undefined when DISCORD_ENABLED=false. */
  discord: DiscordSide | undefined;
  /** The `/ws` endpoint pushing `analytics:update` to subscribed sockets (docs/realtime.md). */
  realtime: RealtimeServer;
  /** Live guild activity in Redis: timelines, leaderboards, streaks, online and typing now (docs/activity.md). */
  activity: ActivityService;
  /** Evaluates the alert rules every ALERT_EVAL_INTERVAL_MS; `GET /api/admin/alerts` shows its report (docs/alerts.md). */
  alerts: AlertMonitor;
  /** Invalidation log, alert history, health score, scheduled cleanup (docs/operations.md). */
  ops: ServiceOps;
  /** Document 001's `cache`, `pubsub` and `cacheInvalidation` (see documented-services.ts). */
  services: DocumentedServices;
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
  const prisma = openDatabase(config);
  // Open the pool's first connection now, so the first request does not pay for it; a database that is down is
  // reported by /health/ready, not fatal here.
  await withTimeout(prisma.$queryRaw`SELECT 1`, config.health.checkTimeoutMs * 2, "postgres warm-up").catch(
    (error: unknown) =>
      logger.warn({ err: error instanceof Error ? error.message : error }, "postgres not answering yet"),
  );
  const redis = openRedis(config, logger);
  const { cache, stats: cacheStats, lockCounters } = createServiceCacheWithStats(config, redis, logger);
  const ops = createServiceOps(config, { redis: redis.client, recorder: cacheStats, lockCounters }, logger);
  // Start serving with a working cache when Redis is there; when it is not, start anyway (the cache fails open
  // and /health/ready says so) after at most the connect timeout.
  await cache
    .ready(config.redis.connectTimeoutMs)
    .catch(() =>
      logger.warn(
        { waitedMs: config.redis.connectTimeoutMs },
        "redis not ready at start-up: serving without cache until it is",
      ),
    );

  const pubsub = new PubSubService({
    publisher: redis.client,
    subscriber: redis.subscriber,
    keyPrefix: config.redis.keyPrefix,
    logger,
  });
  const analytics = buildAnalyticsService(config, prisma);
  // Demo mode: the fake Discord also serves "Log in with Discord" for a demo moderator, with a per-process client.
  const demoClient = config.discord.enabled && config.discord.demo ? demoOAuthClient() : undefined;
  let discord: DiscordSide | undefined;
  const activity = createActivityService({
    cache,
    logger,
    settings: config.activity,
    publisher: createPublisher(redis.client),
    keyPrefix: config.redis.keyPrefix,
    ingestStats: () => discord?.stats().ingest,
  });
  discord = config.discord.enabled
    ? await startDiscordSide({
        config: config.discord,
        keyPrefix: config.redis.keyPrefix,
        simulatedOAuth: demoClient,
        logger,
        prisma,
        // Each coalesced invalidation (one per guild per window) is written to the invalidation log.
        cache: loggedEventInvalidator(cache, ops.invalidationLog, config.discord.invalidationCoalesceMs),
        publisher: createPublisher(redis.client),
        // After an invalidation: recompute each affected analytic, then publish it with its fresh result.
        recompute: (guildId, type) => recomputeAnalytics({ cache, analytics }, type, guildId),
        analyticsUpdates: pubsub,
        ...(config.activity.enabled ? { onDurableRows: activity.recordDurable } : {}),
      })
    : undefined;
  const apiKeys = new ApiKeyService({
    prisma,
    logger,
    adminApiKey: config.adminApiKey,
    ...config.auth,
    revocationBroadcaster: redisRevocationBroadcaster({
      client: redis.client,
      keyPrefix: config.redis.keyPrefix,
      timeoutMs: config.redis.connectTimeoutMs,
    }),
  });
  // Not awaited: with Redis down the subscription is made when it returns (revocations then take the lookup TTL).
  // The WebSocket endpoint attaches once the server listens; a revocation closes that key's sockets at once.
  let realtime: RealtimeServer | undefined;
  const simulated = discord?.simulatedDiscord;
  const signInSide = createSignInSide({
    config,
    redis,
    logger,
    apiKeys,
    discord:
      simulated && demoClient
        ? { ...simulated, ...demoClient }
        : config.sessions.oauth
          ? {
              apiUrl: config.discord.apiUrl,
              authorizeUrl: config.sessions.authorizeUrl,
              ...config.sessions.oauth,
              botToken: config.discord.token,
            }
          : undefined,
    onRevoked: (ids, reason) => realtime?.closeSessions(ids, reason),
  });
  const credentials = signInSide.authenticator;
  const revocations = listenForKeyRevocations({
    connection: redis.subscriber,
    keyPrefix: config.redis.keyPrefix,
    keys: apiKeys,
    logger,
    onRevoked: (keyId) => {
      realtime?.closeKey(keyId);
      // Sessions made from the key end with it (every instance tries; the second finds none).
      signInSide.sessions.revokeUser(apiKeyUserId(keyId)).catch(() => undefined);
    },
  });
  const rateLimit = apiKeyRateLimit({
    redis: redis.client,
    logger,
    limit: config.http.rateLimitPerMinute,
    prefix: `${config.redis.keyPrefix}:ratelimit:`,
    shared: config.redis.rateLimiting,
    timeoutMs: config.redis.commandTimeoutMs,
    // One verdict per master for the cache and the limiter: a master that stops answering is skipped by both at once.
    breakers: cache.breakers,
  });
  const afterAuth = rateLimitChain(rateLimit);
  const health = createServiceHealth(config, {
    redis: redis.client,
    prisma,
    breakerState: () => cache.getLocalStats().breaker.state,
    ingestBuffer: discord
      ? () => ({ buffered: discord.stats().ingest.buffered, capacity: config.discord.ingestMaxBufferedRows })
      : undefined,
  });
  const { readinessChecks } = health;
  const alerts = createServiceAlertMonitor(
    config,
    {
      cache,
      redis: redis.client,
      readinessChecks,
      discordStats: discord?.stats,
      realtimeStats: () => realtime?.stats(),
      cacheP99Ms: async () => {
        const latency = (await cacheStats.fleetStats({ lastMs: config.alerts.windowMs })).redisLatencyMs;
        return latency.count > 0 ? latency.p99Ms : null;
      },
      lockCounters,
    },
    logger,
    async (transitions) => {
      await ops.alertHistory.record(transitions);
      // Fired alerts reach the admins' dashboards as notifications over /ws, on whichever instance they are connected.
      for (const transition of transitions) {
        if (transition.state !== "firing") continue;
        void pubsub
          .publishAdminNotification({
            kind: "alert",
            id: transition.id,
            severity: transition.severity,
            message: transition.message,
            value: transition.value,
            threshold: transition.threshold,
            since: new Date(transition.since).toISOString(),
          })
          .catch((error: unknown) =>
            logger.warn(
              { alert: transition.id, err: error instanceof Error ? error.message : String(error) },
              "alert notification publish failed",
            ),
          );
      }
    },
  );
  const metrics = createServiceMetrics({
    cacheStats,
    cache,
    discordStats: discord?.stats,
    realtimeStats: () => realtime?.stats(),
    alerts,
    sessionCounts: signInSide.lastCounts,
  });
  const cookies = { alwaysSecure: config.env === "production" };
  registerOpsMetrics(metrics.registry, { scorer: ops.scorer, lockCounters, lastSample: () => alerts.lastSample() });

  const analyticsDeps = {
    cache,
    analytics,
    auth: credentials,
    afterAuth,
    staleIfErrorMs: config.analytics.staleIfErrorMs,
  };
  const app = createApp({
    logger,
    requestMetrics: metrics.httpMetrics,
    // Before any router: fresh in-process hits of analytics (docs/architecture.md, "Request pipeline").
    fastPath: analyticsFastPath(analyticsDeps),
    routers: [
      { path: "/health", router: healthDetailsRouter({ registry: health.registry, auth: credentials, afterAuth }) },
      {
        path: "/auth",
        router: authRouter({
          signIn: signInSide.signIn,
          sessions: signInSide.sessions,
          auth: credentials,
          cookies,
          redirectUri: config.sessions.oauth?.redirectUri,
          successRedirect: config.sessions.successRedirect,
          stateTtlMs: config.sessions.stateTtlMs,
          afterAuth,
        }),
      },
      // First under /api: the busiest routes walk the fewest layers (each router here matches only its own paths).
      { path: "/api", router: analyticsRouter(analyticsDeps) },
      // Before the admin routers: they authenticate every request they enter, this one only its own routes.
      {
        path: "/api",
        router: sessionRouter({ sessions: signInSide.sessions, auth: credentials, apiKeys, cookies, afterAuth }),
      },
      { path: "/api", router: activityRouter({ activity, auth: credentials, afterAuth }) },
      // Before the admin cache router: that one authenticates every request it enters, this one only its own route.
      {
        path: "/api/admin",
        router: alertsRouter({ monitor: alerts, history: ops.alertHistory, auth: credentials, afterAuth }),
      },
      // Also before the admin cache router, and guarded per route like the alerts router.
      {
        path: "/api/admin",
        router: adminOpsRouter({ cache, ops, health: health.registry, alerts, auth: credentials, logger, afterAuth }),
      },
      {
        path: "/api/admin",
        router: adminCacheRouter({
          cache,
          auth: credentials,
          logger,
          afterAuth,
          healthScore: () => ops.scorer.score(),
          sessionCounts: () => signInSide.sessions.counts(),
          statusThresholds: {
            hitRateMinPercent: config.alerts.cacheHitRateMinPercent,
            minLookups: config.alerts.cacheHitRateMinLookups,
            memoryLimitBytes: config.cache.memoryLimitBytes,
          },
        }),
      },
      {
        path: "/metrics",
        router: metricsRouter({ registry: metrics.registry, token: config.metricsToken, auth: credentials }),
      },
    ],
    readinessChecks,
    health: health.registry,
    trustProxy: config.http.trustProxy,
    requestLog: { slowMs: config.http.slowRequestMs, sampleRate: config.http.logSampleRate },
  });
  const server = await listen(app, config.http.port, config.http.host);
  const port = boundPort(server);
  logger.info({ host: config.http.host, port }, "http server listening");
  // Its channel subscription is not awaited: with Redis down the endpoint serves sockets and pushes once Redis is back.
  realtime = attachRealtime({
    server,
    auth: credentials,
    subscriber: redis.subscriber,
    keyPrefix: config.redis.keyPrefix,
    logger,
    options: config.realtime,
    trustProxy: config.http.trustProxy,
    liveCountersChannel: liveCountersChannel(config.redis.keyPrefix),
  });
  alerts.start();
  ops.scheduledCleanup.start();
  signInSide.start();

  let stopping: Promise<void> | undefined;
  // Every stage has its own bound (lifecycle/shutdown-budget.ts); main.ts's kill timer is their sum.
  const bounds = new Map(shutdownStages(config).map((stage) => [stage.name, stage.ms]));
  const boundOf = (...names: ShutdownStageName[]) => names.reduce((sum, name) => sum + (bounds.get(name) ?? 0), 0);
  // A step that depends on a hung Redis or PostgreSQL must not hold up the steps after it (the ingestion flush,
  // closing connections): each is bounded, and one that overruns is logged and left behind.
  const step = (name: ShutdownStageName, work: Promise<unknown>, ms = boundOf(name)) =>
    withTimeout(work, ms, `shutdown: ${name}`).catch((error: unknown) =>
      logger.warn(
        { step: name, err: error instanceof Error ? error.message : String(error) },
        "shutdown step did not finish; going on",
      ),
    );
  const stop = () => {
    stopping ??= (async () => {
      // First of all, stop taking HTTP work: stop accepting; every answer from now on carries Connection: close and
      // idle keep-alive sockets are closed, so clients move to another instance; in-flight requests get
      // SHUTDOWN_TIMEOUT_MS, then their sockets are closed.
      const drained = closeServer(server, config.shutdownTimeoutMs);
      await Promise.all([
        // No alert evaluation may read connections that are closing (nor report the shutdown as an outage). Up to
        // about 4 s: an evaluation in flight (bounded by HEALTH_CHECK_TIMEOUT_MS) and the webhook's final sends.
        step("alerts", alerts.close()),
        // An upgraded WebSocket holds server.close() open, and closeAllConnections() does not end it.
        step("realtime", realtime.close()),
      ]);
      logger.info(await drained, "http server drained");
      if (discord) {
        // Gateway, then the ingestion drain (INGEST_CLOSE_TIMEOUT_MS) and the spill of what PostgreSQL did not take,
        // then pending invalidations: each bounded inside, and the whole by the sum of those stages.
        const stopped = await withTimeout(
          discord.stop(),
          boundOf("discord gateway", "ingestion drain", "ingestion spill", "invalidation flush"),
          "shutdown: discord side",
        ).then(
          () => true,
          () => false,
        );
        // The final ingest stats line, always: the Discord side logs it when it stops; here when it could not.
        if (!stopped)
          logger.error({ ingest: discord.stats().ingest }, "discord side did not stop in time: final ingest stats");
      }
      // After ingestion drained: its last durable rows are recorded, then flushed here.
      await step("activity flush", activity.close());
      await step("api key bookkeeping", apiKeys.whenIdle());
      await step("sessions", signInSide.close());
      await step("revocation listener", revocations.close());
      await step("scheduled cleanup", ops.close());
      rateLimit.close();
      await step("pubsub", pubsub.close());
      await step("cache", cache.close());
      await step("redis", redis.close());
      await step("postgres", prisma.$disconnect());
      health.close();
      logger.info("service stopped");
    })();
    return stopping;
  };
  const services: DocumentedServices = { cache, pubsub, cacheInvalidation: discord?.cacheInvalidation };
  return {
    server,
    port,
    prisma,
    redis,
    cache,
    apiKeys,
    signInSide,
    discord,
    activity,
    realtime,
    alerts,
    ops,
    services,
    stop,
  };
}
