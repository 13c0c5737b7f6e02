import request from "supertest";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { guildTag } from "../../../backend/src/analytics/analytics-catalog.ts";
import { AnalyticsQueryLimiter } from "../../../backend/src/analytics/analytics-query-limiter.ts";
import { createAnalyticsService, type AnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { analyticsRouter } from "../../../backend/src/http/analytics-routes.ts";
import { createApp } from "../../../backend/src/http/app.ts";
import { waitForRedisReady } from "../../../backend/src/redis/redis-connections.ts";
import { randomSnowflake, TEST_DATABASE_URL, TEST_REDIS_URL, testLogger } from "../../support/test-env.ts";
import { buildApi, type ApiHarness } from "./analytics-api-harness.ts";

describe("analytics through a PostgreSQL outage: last good values served stale (issue 8)", () => {
  let prisma: PrismaClient;
  let unreachable: PrismaClient;
  let api: ApiHarness;
  let adminKey: string;
  let down = false;
  let clock = new Date("2026-12-06T12:00:30.000Z");
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
    unreachable = createPrismaClient({ url: "postgresql://postgres@127.0.0.1:1/nowhere", connectionTimeoutMs: 500 });
    api = buildApi({ prisma, redisUrl: TEST_REDIS_URL });
    await waitForRedisReady(api.redis.client, 5_000);
    adminKey = (await api.keys.createKey({ name: "admin", admin: true })).secret;
    const real = createAnalyticsService({ prisma });
    const broken = createAnalyticsService({ prisma: unreachable, rollups: true });
    // The real service, or the same queries on a PostgreSQL that refuses connections.
    const switchable: AnalyticsService = {
      compute: (type, query) => (down ? broken : real).compute(type, query),
      usesRollups: () => real.usesRollups(),
    };
    const router = analyticsRouter({ cache: api.cache, analytics: switchable, auth: api.keys, now: () => clock });
    app = createApp({ logger: testLogger(), readinessChecks: [], routers: [{ path: "/api", router }] });
  });
  afterAll(async () => {
    await api?.close();
    await prisma?.$disconnect();
    await unreachable?.$disconnect();
  });

  const get = (path: string) => request(app).get(path).set("authorization", `Bearer ${adminKey}`);

  it("every analytic served before keeps being served (STALE, Age, Warning, reason) across a minute boundary and invalidations; never computed: 503", async () => {
    const guildId = randomSnowflake();
    const ghosts = await get(`/api/analytics/ghosts?guildId=${guildId}&since=24h`).expect(200);
    expect(ghosts.headers["x-cache"]).toBe("MISS");
    const lurkers = await get(`/api/analytics/lurkers?guildId=${guildId}`).expect(200); // default 7d
    const limited = await get(`/api/analytics/roles?guildId=${guildId}&since=15m&limit=7`).expect(200);
    expect(ghosts.headers.warning).toBeUndefined();

    down = true;
    clock = new Date(clock.getTime() + 60_000); // the next minute: relative windows have a new entry key
    for (const [path, before] of [
      [`/api/analytics/ghosts?guildId=${guildId}&since=24h`, ghosts],
      [`/api/analytics/lurkers?guildId=${guildId}`, lurkers],
      [`/api/analytics/roles?guildId=${guildId}&since=15m&limit=7`, limited],
    ] as const) {
      const res = await get(path).expect(200);
      expect(res.headers["x-cache"]).toBe("STALE");
      expect(Number(res.headers.age)).toBeGreaterThanOrEqual(0);
      expect(res.headers.warning).toBe('110 - "Response is Stale", 111 - "Revalidation Failed"');
      expect(res.headers["x-cache-stale-reason"]).toBe("postgres-unavailable");
      expect(res.body).toEqual(before.body);
    }

    // Hard and soft invalidations (events ingested just before the cut) do not take the fallback away.
    await api.cache.invalidateByTag(guildTag(guildId));
    expect((await get(`/api/analytics/ghosts?guildId=${guildId}&since=24h`).expect(200)).headers["x-cache"]).toBe(
      "STALE",
    );
    await api.cache.invalidateByTag(guildTag(guildId), { mode: "soft" });
    clock = new Date(clock.getTime() + 60_000);
    expect((await get(`/api/analytics/lurkers?guildId=${guildId}`).expect(200)).headers["x-cache"]).toBe("STALE");

    // A window or analytic never computed has nothing to fall back on.
    const never = await get(`/api/analytics/heatmap?guildId=${guildId}&since=24h`).expect(503);
    expect(never.body.error).toMatchObject({ code: "E_DEPENDENCY_UNAVAILABLE", details: { dependency: "postgres" } });
    await get(`/api/analytics/ghosts?guildId=${guildId}&since=2h`).expect(503);

    down = false;
    const back = await get(`/api/analytics/ghosts?guildId=${guildId}&since=24h`).expect(200);
    expect(back.headers["x-cache"]).toBe("MISS");
    expect(back.headers.warning).toBeUndefined();
  });

  it("beyond the analytics query limit: 503 E_ANALYTICS_BUSY with Retry-After, at once", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const real = createAnalyticsService({ prisma });
    // One slot, no queue; the computation in the slot is held until the test releases it.
    const limiter = new AnalyticsQueryLimiter({ maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 2 });
    const service: AnalyticsService = {
      compute: (type, query) =>
        limiter.run(async () => {
          const result = await real.compute(type, query);
          await held;
          return result;
        }),
      usesRollups: () => real.usesRollups(),
    };
    const router = analyticsRouter({ cache: api.cache, analytics: service, auth: api.keys, now: () => clock });
    const busyApp = createApp({ logger: testLogger(), readinessChecks: [], routers: [{ path: "/api", router }] });
    const guildId = randomSnowflake();
    const first = request(busyApp)
      .get(`/api/analytics/roles?guildId=${guildId}&since=1h`)
      .set("authorization", `Bearer ${adminKey}`)
      .then((r) => r);
    await vi.waitFor(() => expect(limiter.snapshot().running).toBe(1), { timeout: 10_000, interval: 5 });
    const started = performance.now();
    const busy = await request(busyApp)
      .get(`/api/analytics/clients?guildId=${guildId}&since=1h`)
      .set("authorization", `Bearer ${adminKey}`)
      .expect(503);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(busy.headers["retry-after"]).toBe("2");
    expect(busy.body.error.code).toBe("E_ANALYTICS_BUSY");
    release();
    expect((await first).status).toBe(200);
  });
});
