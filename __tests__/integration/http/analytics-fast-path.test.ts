import type { Express } from "express";
import { Registry } from "prom-client";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createAnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { createCache, type SpyCache } from "../../../backend/src/cache/index.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { analyticsFastPath, analyticsRouter } from "../../../backend/src/http/analytics-routes.ts";
import { createApp } from "../../../backend/src/http/app.ts";
import { httpRequestMetrics } from "../../../backend/src/monitoring/http-request-metrics.ts";
import { createRedisConnections, type RedisConnections } from "../../../backend/src/redis/redis-connections.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import {
  randomSnowflake,
  TEST_COMMAND_TIMEOUT_MS,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  testLogger,
  uniquePrefix,
} from "../../support/test-env.ts";

/**
 * The analytics fast path (http/app.ts `fastPath`, analytics-routes.ts `analyticsFastPath`): it answers fresh
 * in-process hits before any router, and must answer exactly what the router would, or leave the request alone.
 * Real Redis and PostgreSQL; the cache has its in-process tier on, as the service's does.
 */
describe("analytics fast path", () => {
  let prisma: PrismaClient;
  let redis: RedisConnections;
  let cache: SpyCache;
  let keys: ApiKeyService;
  let app: Express;
  let registry: Registry;
  let adminKey: string;
  let guildKey: string;
  const guildId = randomSnowflake();
  const otherGuild = randomSnowflake();
  /** How many requests the router's analytics handler saw: the fast path's answers never reach it. */
  let routerSeen: () => number;

  beforeAll(async () => {
    const logger = testLogger();
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
    redis = createRedisConnections(
      { url: TEST_REDIS_URL, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS, connectTimeoutMs: 500 },
      logger,
    );
    cache = createCache({
      redis: redis.client,
      subscriber: redis.subscriber,
      prefix: uniquePrefix("fastpath"),
      logger,
      l1: {},
    });
    await cache.ready();
    keys = new ApiKeyService({ prisma, logger });
    adminKey = (await keys.createKey({ name: "fast path admin", admin: true })).secret;
    guildKey = (await keys.createKey({ name: "fast path guild", guildIds: [guildId] })).secret;
    registry = new Registry();
    const built = appFor(cache, registry);
    app = built.app;
    routerSeen = built.routerRequests;
  });

  /**
   * The service's app over `cache`: the fast path, then the analytics router (whose analytics requests are counted:
   * the fast path's answers never reach it).
   */
  const appFor = (over: SpyCache, metrics = new Registry()) => {
    const deps = { cache: over, analytics: createAnalyticsService({ prisma }), auth: keys };
    const router = analyticsRouter(deps);
    let seen = 0;
    const built = createApp({
      logger: testLogger(),
      readinessChecks: [],
      requestMetrics: httpRequestMetrics(metrics),
      fastPath: analyticsFastPath(deps),
      routers: [
        {
          path: "/api",
          router: Object.assign(
            (
              req: Parameters<typeof router>[0],
              res: Parameters<typeof router>[1],
              next: Parameters<typeof router>[2],
            ) => {
              if (req.path.startsWith("/analytics/")) seen += 1;
              return router(req, res, next);
            },
            router,
          ),
        },
      ],
    });
    return { app: built, routerRequests: () => seen };
  };

  afterAll(async () => {
    await keys?.whenIdle();
    await cache?.close();
    await redis?.close();
    await prisma?.$disconnect();
  });

  const url = (type = "ghosts", guild = guildId) => `/api/analytics/${type}?guildId=${guild}&since=24h`;
  const get = (path: string, key = adminKey) => request(app).get(path).set("authorization", `Bearer ${key}`);
  /** Headers that may differ between two answers of the same entry: the date and the entry's age. */
  const comparable = (headers: Record<string, string>) => {
    const { date: _date, age: _age, "x-cache-age-ms": _ageMs, connection: _c, "keep-alive": _k, ...rest } = headers;
    return rest;
  };

  it("answers a fresh hit with the router's exact headers and body, without reaching the router", async () => {
    const miss = await get(url()).expect(200);
    expect(miss.headers["x-cache"]).toBe("MISS");
    const seenBefore = routerSeen();
    const fast = await get(url()).expect(200);
    expect(fast.headers["x-cache"]).toBe("HIT");
    expect(routerSeen()).toBe(seenBefore); // answered by the fast path
    // A conditional request that does not match goes through the router (the fast path leaves conditionals alone).
    const routed = await get(url()).set("if-none-match", '"not-this-one"').expect(200);
    expect(routerSeen()).toBe(seenBefore + 1);
    expect(routed.headers["x-cache"]).toBe("HIT");
    expect(fast.body).toEqual(routed.body);
    expect(comparable(fast.headers)).toEqual(comparable(routed.headers));
    // The app-wide security headers are on the fast answer.
    expect(fast.headers["x-content-type-options"]).toBe("nosniff");
    expect(fast.headers["content-security-policy"]).toContain("default-src 'none'");
    expect(fast.headers["strict-transport-security"]).toBeDefined();
    // And the matching conditional request gets its 304 from the router.
    await get(url()).set("if-none-match", fast.headers.etag!).expect(304);
  });

  it("counts its answers in the HTTP metrics under the route template", async () => {
    await get(url()).expect(200);
    const text = await registry.metrics();
    expect(text).toMatch(
      /spywatcher_http_request_duration_seconds_count\{method="GET",route="\/api\/analytics\/:type",status="200"\} [1-9]/,
    );
    expect(text).not.toContain(guildId); // never a raw URL
  });

  it("leaves to the router what it cannot answer the same way", async () => {
    await get(url()).expect(200); // the entry is fresh in L1
    let seen = routerSeen();
    const routed = async (response: Promise<request.Response>, status: number) => {
      const answer = await response;
      expect(answer.status).toBe(status);
      expect(routerSeen()).toBe(seen + 1);
      seen = routerSeen();
      return answer;
    };
    // No key, a wrong key: 401 from the router.
    await routed(request(app).get(url()), 401);
    await routed(get(url(), "sw_not-a-real-key-000000000000000000000000000000"), 401);
    // A bad query string: the router's 400 names the field.
    const bad = await routed(get(`/api/analytics/ghosts?guildId=${guildId}&since=nonsense`), 400);
    expect(bad.body.error.message).toContain("since");
    // A key not scoped to the guild: 403 (the first use of this key is also its first lookup).
    await routed(get(url("ghosts", otherGuild), guildKey), 403);
    await routed(get(url("ghosts", otherGuild), guildKey), 403);
    // An unknown analytic: 404 from the router.
    await routed(get(url("nothing")), 404);
    // HEAD and POST: the router.
    await routed(request(app).head(url()).set("authorization", `Bearer ${adminKey}`), 200);
    await routed(request(app).post(url()).set("authorization", `Bearer ${adminKey}`), 200);
    // A guild key that may read the guild, once verified: the fast path answers it too.
    await get(url(), guildKey).expect(200);
    const before = routerSeen();
    await get(url(), guildKey).expect(200);
    expect(routerSeen()).toBe(before);
  });

  it("does not answer after an invalidation: the next request goes the long way and recomputes", async () => {
    await get(url()).expect(200);
    await cache.invalidateByTag(`guild:${guildId}`);
    const seen = routerSeen();
    const after = await get(url()).expect(200);
    expect(after.headers["x-cache"]).toBe("MISS");
    expect(routerSeen()).toBe(seen + 1);
  });

  it("is off when a middleware runs after authentication (a rate limit needs the full pipeline)", () => {
    const deps = { cache, analytics: createAnalyticsService({ prisma }), auth: keys };
    expect(analyticsFastPath({ ...deps, afterAuth: [(_req, _res, next) => next()] })).toBeUndefined();
    expect(analyticsFastPath(deps)).toBeDefined();
  });
  it("answers the in-process copy while the key's Redis is out (breaker open) with the router's exact stale headers", async () => {
    const server = await ThrowawayRedis.start();
    const logger = testLogger();
    const own = createRedisConnections(
      { url: server.url, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS, connectTimeoutMs: 500 },
      logger,
    );
    const outage = createCache({
      redis: own.client,
      subscriber: own.subscriber,
      prefix: uniquePrefix("fastpath-out"),
      logger,
      l1: {},
      breaker: { failureThreshold: 1 },
    });
    try {
      await outage.ready();
      const { app: served, routerRequests } = appFor(outage);
      const at = (key = adminKey) => request(served).get(url("lurkers")).set("authorization", `Bearer ${key}`);
      expect((await at().expect(200)).headers["x-cache"]).toBe("MISS");
      await server.kill();
      // The first reads fail and open the breaker (the router serves those); then the fast path answers the copy.
      await vi.waitFor(
        async () => {
          const seen = routerRequests();
          const answer = await at().expect(200);
          expect(answer.headers["x-cache"]).toBe("STALE");
          expect(routerRequests()).toBe(seen);
        },
        { timeout: 5_000, interval: 20 },
      );
      const fast = await at().expect(200);
      const seen = routerRequests();
      const routed = await at().set("if-none-match", '"not-this-one"').expect(200);
      expect(routerRequests()).toBe(seen + 1);
      expect(fast.headers["x-cache-stale-reason"]).toBe("redis-unavailable");
      expect(fast.headers.warning).toBe('110 - "Response is Stale", 111 - "Revalidation Failed"');
      expect(fast.body).toEqual(routed.body);
      expect(comparable(fast.headers)).toEqual(comparable(routed.headers));
    } finally {
      await outage.close();
      await own.close();
      await server.kill();
    }
  });
});
