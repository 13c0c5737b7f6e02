import type { Express } from "express";
import { loadConfig } from "../../../backend/src/config/config.ts";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createAnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { startDiscordSide, type DiscordSide } from "../../../backend/src/composition/discord-side.ts";
import { createCache, type SpyCache } from "../../../backend/src/cache/index.ts";
import { CacheStatsRecorder } from "../../../backend/src/cache/stats/cache-stats-recorder.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { adminCacheRouter } from "../../../backend/src/http/admin-cache-routes.ts";
import { analyticsRouter } from "../../../backend/src/http/analytics-routes.ts";
import { createApp } from "../../../backend/src/http/app.ts";
import { metricsRouter } from "../../../backend/src/monitoring/metrics-routes.ts";
import { createServiceMetrics } from "../../../backend/src/monitoring/service-metrics.ts";
import {
  createRedisConnections,
  waitForRedisReady,
  type RedisConnections,
} from "../../../backend/src/redis/redis-connections.ts";
import { startService, type RunningService } from "../../../backend/src/service.ts";
import {
  randomSnowflake,
  TEST_COMMAND_TIMEOUT_MS,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  testConfig,
  testLogger,
  uniquePrefix,
} from "../../support/test-env.ts";

const METRICS_TOKEN = "scrape-token-0123456789";

/** An app wired like service.ts (metrics first, analytics, admin, /metrics) on its own connections and registry. */
interface MetricsApi {
  app: Express;
  cache: SpyCache;
  redis: RedisConnections;
  close(): Promise<void>;
}

function buildMetricsApi(options: {
  prisma: PrismaClient;
  keys: ApiKeyService;
  token?: string;
  discord?: DiscordSide;
  processMetrics?: boolean;
}): MetricsApi {
  const logger = testLogger();
  const redis = createRedisConnections(
    { url: TEST_REDIS_URL, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS, connectTimeoutMs: 500 },
    logger,
  );
  const prefix = uniquePrefix("metrics");
  const stats = new CacheStatsRecorder({ redis: redis.client, prefix, instanceId: `metrics-test-${prefix}` });
  const cache = createCache({ redis: redis.client, subscriber: redis.subscriber, prefix, logger, stats });
  const metrics = createServiceMetrics({
    cacheStats: stats,
    cache,
    discordStats: options.discord?.stats,
    processMetrics: options.processMetrics ?? true,
  });
  const app = createApp({
    logger,
    readinessChecks: [],
    requestMetrics: metrics.httpMetrics,
    routers: [
      {
        path: "/api",
        router: analyticsRouter({
          cache,
          analytics: createAnalyticsService({ prisma: options.prisma }),
          auth: options.keys,
        }),
      },
      { path: "/api/admin", router: adminCacheRouter({ cache, auth: options.keys, logger }) },
      {
        path: "/metrics",
        router: metricsRouter({ registry: metrics.registry, token: options.token, auth: options.keys }),
      },
    ],
  });
  return {
    app,
    cache,
    redis,
    close: async () => {
      await cache.close();
      await redis.close();
    },
  };
}

/** The value of one sample line (`name{labels} value`) in a Prometheus text exposition, or undefined. */
function sample(text: string, nameAndLabels: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${nameAndLabels} `));
  return line === undefined ? undefined : Number(line.slice(nameAndLabels.length + 1));
}

describe("GET /metrics on real Redis and PostgreSQL", () => {
  let prisma: PrismaClient;
  let keys: ApiKeyService;
  let adminKey: string;
  let guildKey: string;
  const guildId = randomSnowflake();

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
    keys = new ApiKeyService({ prisma, logger: testLogger() });
    adminKey = (await keys.createKey({ name: "metrics admin", admin: true })).secret;
    guildKey = (await keys.createKey({ name: "metrics guild", guildIds: [guildId] })).secret;
  });
  afterAll(async () => {
    await keys?.whenIdle();
    await prisma?.$disconnect();
  });

  describe("without METRICS_TOKEN", () => {
    let api: MetricsApi;
    const scrape = async () =>
      (await request(api.app).get("/metrics").set("authorization", `Bearer ${adminKey}`).expect(200)).text;
    const readGhosts = async (guild = guildId) =>
      (
        await request(api.app)
          .get(`/api/analytics/ghosts?guildId=${guild}&since=1h`)
          .set("authorization", `Bearer ${adminKey}`)
          .expect(200)
      ).headers["x-cache"];

    beforeAll(async () => {
      api = buildMetricsApi({ prisma, keys });
      await waitForRedisReady(api.redis.client, 5_000);
      await api.cache.ready(5_000);
    });
    afterAll(async () => api?.close());

    it("needs an admin API key: 401 without or with an unknown key, 403 for a guild key", async () => {
      await request(api.app).get("/metrics").expect(401);
      await request(api.app)
        .get("/metrics")
        .set("authorization", `Bearer sw_${"y".repeat(43)}`)
        .expect(401);
      const forbidden = await request(api.app).get("/metrics").set("authorization", `Bearer ${guildKey}`).expect(403);
      expect(forbidden.body.error.code).toBe("E_FORBIDDEN");
      const res = await request(api.app).get("/metrics").set("authorization", `Bearer ${adminKey}`).expect(200);
      expect(res.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(res.text).toContain("# TYPE process_cpu_user_seconds_total counter");
      expect(res.text).toContain("# TYPE nodejs_eventloop_lag_seconds gauge");
      expect(res.text).toContain("spywatcher_cache_breaker_state 0");
    });

    it("cache lookup counters move after a miss and a hit", async () => {
      const hits = (text: string) =>
        (sample(text, 'spywatcher_cache_lookups_total{outcome="hit_l1"}') ?? 0) +
        (sample(text, 'spywatcher_cache_lookups_total{outcome="hit_l2"}') ?? 0);
      const before = await scrape();
      const guild = randomSnowflake();
      expect(await readGhosts(guild)).toBe("MISS");
      expect(await readGhosts(guild)).toBe("HIT");
      const after = await scrape();
      expect(hits(after) - hits(before)).toBe(1);
      expect(
        sample(after, 'spywatcher_cache_lookups_total{outcome="miss"}')! -
          sample(before, 'spywatcher_cache_lookups_total{outcome="miss"}')!,
      ).toBe(1);
      expect(sample(after, 'cache_operation_latency_seconds_count{source="loader"}')).toBeGreaterThanOrEqual(1);
    });

    it("times requests by route template, method and status, never by raw URL", async () => {
      await readGhosts();
      await request(api.app)
        .get(`/api/analytics/ghosts?guildId=${guildId}&since=nonsense`)
        .set("authorization", `Bearer ${adminKey}`)
        .expect(400);
      await request(api.app).get(`/api/analytics/ghosts?guildId=${guildId}`).expect(401);
      await request(api.app)
        .get("/api/admin/cache/stats?keyspace=false")
        .set("authorization", `Bearer ${adminKey}`)
        .expect(200);
      await request(api.app).get(`/nowhere/${randomSnowflake()}`).expect(404);
      // Ids in the path of requests that end inside a router (404 there, 401 from its auth) never reach a label.
      await request(api.app)
        .get(`/api/admin/guilds/${guildId}/nothing`)
        .set("authorization", `Bearer ${adminKey}`)
        .expect(404);
      await request(api.app).get(`/api/analytics/ghosts/${guildId}`).expect(401);
      const text = await scrape();
      const count = (labels: string) => sample(text, `spywatcher_http_request_duration_seconds_count{${labels}}`);
      expect(count('method="GET",route="/api/analytics/:type",status="200"')).toBeGreaterThanOrEqual(1);
      expect(count('method="GET",route="/api/analytics/:type",status="400"')).toBeGreaterThanOrEqual(1);
      expect(count('method="GET",route="/api/*",status="401"')).toBeGreaterThanOrEqual(1);
      expect(count('method="GET",route="/api/admin/*",status="404"')).toBe(1);
      expect(count('method="GET",route="/api/admin/cache/stats",status="200"')).toBe(1);
      expect(count('method="GET",route="unmatched",status="404"')).toBeGreaterThanOrEqual(1);
      expect(count('method="GET",route="/metrics",status="200"')).toBeGreaterThanOrEqual(1);
      expect(text).toContain(
        'spywatcher_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/analytics/:type",status="200"}',
      );
      const httpLines = text.split("\n").filter((line) => line.startsWith("spywatcher_http_request_duration_seconds"));
      expect(httpLines.length).toBeGreaterThan(0);
      for (const line of httpLines) {
        expect(line).not.toContain(guildId);
        expect(line).not.toContain("nowhere");
      }
    });

    it("labels mixed-case URLs with the configured templates only (Express matches paths case-insensitively)", async () => {
      await request(api.app)
        .get("/API/ADMIN/cache/stats?keyspace=false")
        .set("authorization", `Bearer ${adminKey}`)
        .expect(200);
      await request(api.app)
        .get("/Api/Admin/cache/stats?keyspace=false")
        .set("authorization", `Bearer ${adminKey}`)
        .expect(200);
      await request(api.app).get("/Api/Admin/whatever").set("authorization", `Bearer ${adminKey}`).expect(404);
      await request(api.app).get("/API/ADMIN/x").expect(401);
      await request(api.app).get(`/API/Analytics/ghosts?guildId=${guildId}`).expect(401);
      await request(api.app).get("/METRICS").set("authorization", `Bearer ${adminKey}`).expect(200);
      const text = await scrape();
      const routes = new Set(
        text
          .split("\n")
          .filter((line) => line.startsWith("spywatcher_http_request_duration_seconds_count"))
          .map((line) => /route="([^"]*)"/.exec(line)![1]!),
      );
      expect(routes.size).toBeGreaterThan(0);
      for (const route of routes) expect(route, route).toBe(route.toLowerCase());
      const count = (labels: string) => sample(text, `spywatcher_http_request_duration_seconds_count{${labels}}`);
      expect(count('method="GET",route="/api/admin/cache/stats",status="200"')).toBeGreaterThanOrEqual(3);
      expect(count('method="GET",route="/api/admin/*",status="404"')).toBeGreaterThanOrEqual(1);
      expect(count('method="GET",route="/api/admin/*",status="401"')).toBeGreaterThanOrEqual(1);
    });
  });

  describe("with METRICS_TOKEN", () => {
    let api: MetricsApi;
    beforeAll(async () => {
      api = buildMetricsApi({ prisma, keys, token: METRICS_TOKEN, processMetrics: false });
      await waitForRedisReady(api.redis.client, 5_000);
    });
    afterAll(async () => api?.close());

    it("accepts exactly the token: 401 without it, with a wrong one or with an admin API key", async () => {
      const missing = await request(api.app).get("/metrics").expect(401);
      expect(missing.body.error.code).toBe("E_UNAUTHORIZED");
      expect(JSON.stringify(missing.body)).not.toContain(METRICS_TOKEN);
      await request(api.app).get("/metrics").set("authorization", `Bearer ${METRICS_TOKEN}x`).expect(401);
      await request(api.app).get("/metrics").set("authorization", `Bearer ${adminKey}`).expect(401);
      const res = await request(api.app).get("/metrics").set("authorization", `Bearer ${METRICS_TOKEN}`).expect(200);
      expect(res.text).toContain("# TYPE spywatcher_cache_lookups_total counter");
      expect(res.text).not.toContain("process_cpu_user_seconds_total");
    });
  });

  describe("with the Discord side running (simulated Discord)", () => {
    let cacheApi: MetricsApi | undefined;
    let discord: DiscordSide;
    let api: MetricsApi;

    beforeAll(async () => {
      // The Discord side invalidates through a cache of its own app; the metrics app reads its stats().
      cacheApi = buildMetricsApi({ prisma, keys, processMetrics: false });
      discord = await startDiscordSide({
        config: loadConfig({
          SIMULATION_EVENTS_PER_SECOND: "200",
          INGEST_FLUSH_INTERVAL_MS: "50",
          INVALIDATION_COALESCE_MS: "100",
        }).discord,
        keyPrefix: uniquePrefix("metrics-bot"),
        logger: testLogger(),
        prisma,
        cache: cacheApi.cache,
      });
      api = buildMetricsApi({ prisma, keys, token: METRICS_TOKEN, discord, processMetrics: false });
    });
    afterAll(async () => {
      await discord?.stop();
      await api?.close();
      await cacheApi?.close();
    });

    it("exports the bot's, the ingestion writer's and the invalidation service's counters as they move", async () => {
      const scrape = async () =>
        (await request(api.app).get("/metrics").set("authorization", `Bearer ${METRICS_TOKEN}`).expect(200)).text;
      await vi.waitFor(
        async () => {
          const text = await scrape();
          expect(sample(text, 'spywatcher_ingest_rows_total{outcome="written"}')).toBeGreaterThan(0);
          expect(sample(text, "spywatcher_invalidation_invalidations_total")).toBeGreaterThan(0);
        },
        { timeout: 15_000, interval: 100 },
      );
      // The source is read before and after the scrape: a value read at scrape time lies between the two.
      const before = discord.stats().ingest.written;
      await vi.waitFor(() => expect(discord.stats().ingest.written).toBeGreaterThan(before), {
        timeout: 10_000,
        interval: 20,
      });
      const moved = discord.stats().ingest.written;
      const text = await scrape();
      const after = discord.stats().ingest.written;
      const exported = sample(text, 'spywatcher_ingest_rows_total{outcome="written"}')!;
      expect(exported).toBeGreaterThanOrEqual(moved);
      expect(exported).toBeLessThanOrEqual(after);
      expect(sample(text, 'spywatcher_ingest_rows_total{outcome="dropped"}')).toBe(0);
      expect(sample(text, 'spywatcher_ingest_batches_total{outcome="written"}')).toBeGreaterThan(0);
      expect(sample(text, "spywatcher_ingest_buffered_rows")).toBeGreaterThanOrEqual(0);
      expect(text).toMatch(/^spywatcher_bot_events_total\{listener="[a-zA-Z]+",outcome="handled"\} [1-9]/m);
      expect(text).toContain("# TYPE spywatcher_invalidation_pending_guilds gauge");
    });
  });
});

describe("the service wires /metrics and /api/admin", () => {
  let service: RunningService;
  const adminKey = `bootstrap-admin-${"k".repeat(24)}`;

  beforeAll(async () => {
    service = await startService(testConfig({ METRICS_TOKEN, ADMIN_API_KEY: adminKey }), testLogger());
    await waitForRedisReady(service.redis.client, 5_000);
  });
  afterAll(async () => service?.stop());

  it("serves /metrics with METRICS_TOKEN and the admin cache routes with an admin key", async () => {
    await request(service.server).get("/metrics").expect(401);
    const metrics = await request(service.server)
      .get("/metrics")
      .set("authorization", `Bearer ${METRICS_TOKEN}`)
      .expect(200);
    expect(metrics.text).toContain("spywatcher_cache_breaker_state 0");
    expect(metrics.text).toContain("process_resident_memory_bytes");
    // The cache's own lookup counters (its stats recorder) and the WebSocket endpoint's gauges are wired too.
    expect(metrics.text).toMatch(/^spywatcher_cache_lookups_total\{outcome="miss"\} \d+$/m);
    expect(metrics.text).toContain("spywatcher_ws_connections 0");
    expect(metrics.text).toContain('spywatcher_ws_upgrades_total{outcome="accepted"} 0');
    const stats = await request(service.server)
      .get("/api/admin/cache/stats?keyspace=false")
      .set("authorization", `Bearer ${adminKey}`)
      .expect(200);
    expect(stats.body.instance.scope).toBe("instance");
    const after = await request(service.server)
      .get("/metrics")
      .set("authorization", `Bearer ${METRICS_TOKEN}`)
      .expect(200);
    expect(after.text).toContain(
      'spywatcher_http_request_duration_seconds_count{method="GET",route="/api/admin/cache/stats",status="200"} 1',
    );
  });
});
