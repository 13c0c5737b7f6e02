import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANALYTICS_TYPES, guildAnalyticsTag } from "../../../backend/src/analytics/analytics-catalog.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { waitForRedisReady } from "../../../backend/src/redis/redis-connections.ts";
import { randomSnowflake, TEST_DATABASE_URL, TEST_REDIS_URL, testLogger } from "../../support/test-env.ts";
import { CH1, insertFixture, SINCE, U, UNTIL, type FixtureGuilds } from "../../support/analytics-fixture.ts";
import { createAnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import { analyticsRouter } from "../../../backend/src/http/analytics-routes.ts";
import { createApp } from "../../../backend/src/http/app.ts";
import { buildApi, type ApiHarness } from "./analytics-api-harness.ts";

describe("GET /api/analytics/:type on real PostgreSQL and Redis", () => {
  let prisma: PrismaClient;
  let api: ApiHarness;
  let guilds: FixtureGuilds;
  let guildKey: string;
  let adminKey: string;
  const since = SINCE.toISOString();
  const get = (path: string, key?: string) => {
    const req = request(api.app).get(path);
    return key ? req.set("authorization", `Bearer ${key}`) : req;
  };

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
    guilds = await insertFixture(prisma);
    // The fixture's window ends at UNTIL: the API's clock stands there.
    api = buildApi({ prisma, redisUrl: TEST_REDIS_URL, now: () => UNTIL });
    await waitForRedisReady(api.redis.client, 5_000);
    guildKey = (await api.keys.createKey({ name: "main only", guildIds: [guilds.main] })).secret;
    adminKey = (await api.keys.createKey({ name: "admin", admin: true })).secret;
  });
  afterAll(async () => {
    await api?.close();
    await prisma?.$disconnect();
  });

  it("401 without a key, with a malformed header and with an unknown key", async () => {
    const path = `/api/analytics/ghosts?guildId=${guilds.main}`;
    const none = await get(path).expect(401);
    expect(none.body.error.code).toBe("E_UNAUTHORIZED");
    await request(api.app).get(path).set("authorization", `Basic ${guildKey}`).expect(401);
    const unknown = await get(path, `sw_${"x".repeat(43)}`).expect(401);
    expect(unknown.body.error).toEqual({ code: "E_UNAUTHORIZED", message: "The API key is unknown or revoked" });
    expect(JSON.stringify(unknown.body)).not.toContain("sw_");
  });

  it("403 when a guild-scoped key asks for another guild; admin keys read any guild", async () => {
    const res = await get(`/api/analytics/ghosts?guildId=${guilds.other}&since=${since}`, guildKey).expect(403);
    expect(res.body.error.code).toBe("E_FORBIDDEN");
    await get(`/api/analytics/ghosts?guildId=${guilds.other}&since=${since}`, adminKey).expect(200);
  });

  it.each([
    ["guildId", ""],
    ["guildId", "guildId=123"],
    ["guildId", "guildId=1234567890123456789012"],
    ["since", "since=91d"],
    ["since", "since=yesterday"],
    ["since", "since=2026-03-09T00:00:00Z"],
    ["limit", "limit=0"],
    ["limit", "limit=501"],
    ["limit", "limit=ten"],
  ])("400 naming %s for %s", async (field, query) => {
    const withGuild = field === "guildId" ? query : `guildId=${guilds.main}&${query}`;
    const res = await get(`/api/analytics/ghosts?${withGuild}`, adminKey).expect(400);
    expect(res.body.error.code).toBe("E_VALIDATION");
    expect(res.body.error.details.map((detail: { field: string }) => detail.field)).toEqual([field]);
    expect(res.body.error.message).toContain(field);
  });

  it("400 lists every bad field at once, since included", async () => {
    const res = await get("/api/analytics/ghosts?guildId=12&since=never&limit=0", adminKey).expect(400);
    expect(res.body.error.details.map((detail: { field: string }) => detail.field).sort()).toEqual([
      "guildId",
      "limit",
      "since",
    ]);
    const repeated = await get(`/api/analytics/ghosts?guildId=${guilds.main}&since=1h&since=2h`, adminKey).expect(400);
    expect(repeated.body.error.details).toEqual([{ field: "since", message: "must be a single value" }]);
  });

  it("404 for an unknown analytic", async () => {
    const res = await get(`/api/analytics/spies?guildId=${guilds.main}`, adminKey).expect(404);
    expect(res.body.error.code).toBe("E_NOT_FOUND");
    expect(res.body.error.message).toContain("ghosts, lurkers, heatmap, roles, clients, shifts");
  });

  it("MISS then HIT with the same body and ETag; If-None-Match answers 304", async () => {
    const path = `/api/analytics/ghosts?guildId=${guilds.main}&since=${since}`;
    const miss = await get(path, guildKey).expect(200);
    expect(miss.headers["x-cache"]).toBe("MISS");
    expect(miss.headers["cache-control"]).toBe("private, no-cache");
    expect(miss.headers.age).toBe("0");
    expect(miss.body.items.map((item: { userId: string }) => item.userId)).toEqual([U.B, U.A, U.D]);
    expect(miss.body.window).toEqual({ since, until: UNTIL.toISOString() });

    const hit = await get(path, guildKey).expect(200);
    expect(hit.headers["x-cache"]).toBe("HIT");
    expect(Number(hit.headers["x-cache-age-ms"])).toBeGreaterThanOrEqual(0);
    expect(hit.headers.etag).toBe(miss.headers.etag);
    expect(hit.body).toEqual(miss.body);
    for (const answer of [miss, hit]) {
      expect(answer.headers["content-type"]).toBe("application/json; charset=utf-8");
      expect(answer.headers["content-length"]).toBe(String(Buffer.byteLength(answer.text)));
    }
    const head = await request(api.app).head(path).set("authorization", `Bearer ${guildKey}`).expect(200);
    expect(head.headers["x-cache"]).toBe("HIT");
    expect(head.headers["content-length"]).toBe(hit.headers["content-length"]);
    expect(head.text ?? "").toBe("");

    const notModified = await get(path, guildKey).set("if-none-match", miss.headers.etag!).expect(304);
    expect(notModified.text).toBe("");
    await get(path, guildKey).set("if-none-match", '"something-else"').expect(200);
  });

  it("limit is part of the key: limit=2 is its own entry with 2 items", async () => {
    const res = await get(`/api/analytics/ghosts?guildId=${guilds.main}&since=${since}&limit=2`, guildKey).expect(200);
    expect(res.headers["x-cache"]).toBe("MISS");
    expect(res.body.items).toHaveLength(2);
    expect(res.body.total).toBe(3);
  });

  it("after the guild's ghosts tag is invalidated, the next call recomputes and sees new rows", async () => {
    const path = `/api/analytics/ghosts?guildId=${guilds.main}&since=${since}`;
    await get(path, guildKey).expect(200);
    await prisma.typingEvent.createMany({
      data: Array.from({ length: 10 }, () => ({ guildId: guilds.main, channelId: CH1, userId: U.E, startedAt: SINCE })),
    });
    const stillCached = await get(path, guildKey).expect(200);
    expect(stillCached.headers["x-cache"]).toBe("HIT");
    expect(stillCached.body.items[0].userId).toBe(U.B);

    await api.cache.invalidateByTag(guildAnalyticsTag("ghosts", guilds.main));
    const fresh = await get(path, guildKey).expect(200);
    expect(fresh.headers["x-cache"]).toBe("MISS");
    expect(fresh.body.items[0]).toEqual({ userId: U.E, typingCount: 10, messageCount: 0, ghostScore: 10 });
    expect(fresh.headers.etag).not.toBe(stillCached.headers.etag);
  });

  it("serves every analytic for the guild with its own shape", async () => {
    for (const type of ANALYTICS_TYPES) {
      const res = await get(`/api/analytics/${type}?guildId=${guilds.main}&since=${since}`, guildKey).expect(200);
      expect(res.body).toMatchObject({ type, guildId: guilds.main, limit: 100 });
      expect(res.body.items.length).toBeGreaterThan(0);
    }
  });

  it("relative since is accepted and rounded down to the minute", async () => {
    const res = await get(`/api/analytics/roles?guildId=${guilds.main}&since=24h`, guildKey).expect(200);
    expect(res.body.window).toEqual({ since: "2026-03-07T00:00:00.000Z", until: UNTIL.toISOString() });
    const defaulted = await get(`/api/analytics/roles?guildId=${randomSnowflake()}`, adminKey).expect(200);
    expect(defaulted.body.window.since).toBe("2026-03-01T00:00:00.000Z");
  });

  it("503 E_DEPENDENCY_UNAVAILABLE when PostgreSQL cannot be reached and nothing is cached", async () => {
    const unreachable = createPrismaClient({
      url: "postgresql://postgres@127.0.0.1:1/nowhere",
      connectionTimeoutMs: 500,
    });
    try {
      const router = analyticsRouter({
        cache: api.cache,
        analytics: createAnalyticsService({ prisma: unreachable, rollups: false }),
        auth: api.keys,
        now: () => UNTIL,
      });
      const app = createApp({ logger: testLogger(), readinessChecks: [], routers: [{ path: "/api", router }] });
      const res = await request(app)
        .get(`/api/analytics/lurkers?guildId=${randomSnowflake()}&since=${since}`)
        .set("authorization", `Bearer ${adminKey}`)
        .expect(503);
      expect(res.body.error).toMatchObject({ code: "E_DEPENDENCY_UNAVAILABLE", details: { dependency: "postgres" } });
    } finally {
      await unreachable.$disconnect();
    }
  });
});
