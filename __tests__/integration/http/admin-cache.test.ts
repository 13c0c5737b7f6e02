import { Writable } from "node:stream";
import type { Express } from "express";
import { pino } from "pino";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { createCache, type SpyCache } from "../../../backend/src/cache/index.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { adminCacheRouter } from "../../../backend/src/http/admin-cache-routes.ts";
import { analyticsRouter } from "../../../backend/src/http/analytics-routes.ts";
import { createApp } from "../../../backend/src/http/app.ts";
import { apiKeyRateLimit } from "../../../backend/src/http/middleware/api-key-rate-limit.ts";
import { REDACTED_PATHS, type Logger } from "../../../backend/src/logging/logger.ts";
import {
  createRedisConnections,
  waitForRedisReady,
  type RedisConnections,
} from "../../../backend/src/redis/redis-connections.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import {
  randomSnowflake,
  TEST_COMMAND_TIMEOUT_MS,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  uniquePrefix,
} from "../../support/test-env.ts";

/** The app as service.ts mounts it (analytics at /api, admin at /api/admin) on its own connections and prefix. */
interface AdminApi {
  app: Express;
  cache: SpyCache;
  redis: RedisConnections;
  prefix: string;
  close(): Promise<void>;
}

function buildAdminApi(options: {
  prisma: PrismaClient;
  keys: ApiKeyService;
  redisUrl: string;
  logger: Logger;
  commandTimeoutMs?: number;
}): AdminApi {
  const { logger } = options;
  const redis = createRedisConnections(
    {
      url: options.redisUrl,
      commandTimeoutMs: options.commandTimeoutMs ?? TEST_COMMAND_TIMEOUT_MS,
      connectTimeoutMs: 500,
    },
    logger,
  );
  const prefix = uniquePrefix("admin");
  const cache = createCache({ redis: redis.client, subscriber: redis.subscriber, prefix, logger });
  const rateLimit = apiKeyRateLimit({ redis: redis.client, logger, limit: 10_000, prefix: `${prefix}:ratelimit:` });
  const app = createApp({
    logger,
    readinessChecks: [],
    routers: [
      {
        path: "/api",
        router: analyticsRouter({
          cache,
          analytics: createAnalyticsService({ prisma: options.prisma }),
          auth: options.keys,
          afterAuth: [rateLimit],
        }),
      },
      { path: "/api/admin", router: adminCacheRouter({ cache, auth: options.keys, logger, afterAuth: [rateLimit] }) },
    ],
  });
  return {
    app,
    cache,
    redis,
    prefix,
    close: async () => {
      await cache.close();
      await redis.close();
    },
  };
}

/** A logger like the service's (same redaction) whose lines the test can read. */
function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      callback();
    },
  });
  return { logger: pino({ level: "info", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, stream), lines };
}

async function scanKeys(redis: RedisConnections, match: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.client.scan(cursor, "MATCH", match, "COUNT", 500);
    cursor = next;
    found.push(...keys);
  } while (cursor !== "0");
  return found;
}

describe("admin cache routes on real Redis and PostgreSQL", () => {
  let prisma: PrismaClient;
  let keys: ApiKeyService;
  let api: AdminApi;
  let logs: { logger: Logger; lines: string[] };
  let adminKey: { id: string; secret: string };
  let guildKey: string;
  const guildId = randomSnowflake();
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });
  const admin = () => auth(adminKey.secret);
  const readAnalytic = async (type: string, guild = guildId) => {
    const res = await request(api.app).get(`/api/analytics/${type}?guildId=${guild}&since=1h`).set(admin()).expect(200);
    return res.headers["x-cache"];
  };

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
    logs = capturingLogger();
    keys = new ApiKeyService({ prisma, logger: logs.logger });
    const created = await keys.createKey({ name: "ops admin", admin: true });
    adminKey = { id: created.record.id, secret: created.secret };
    guildKey = (await keys.createKey({ name: "guild only", guildIds: [guildId] })).secret;
    api = buildAdminApi({ prisma, keys, redisUrl: TEST_REDIS_URL, logger: logs.logger });
    await waitForRedisReady(api.redis.client, 5_000);
    await api.cache.ready(5_000);
  });
  afterAll(async () => {
    await api?.close();
    await keys?.whenIdle();
    await prisma?.$disconnect();
  });

  it("401 without a key or with an unknown one, 403 for a guild-scoped key, 200 for an admin key", async () => {
    for (const [method, path] of [
      ["get", "/api/admin/cache/stats"],
      ["post", "/api/admin/cache/invalidate"],
      ["post", "/api/admin/cache/purge"],
      ["delete", "/api/admin/cache?confirm=yes"],
    ] as const) {
      const none = await request(api.app)[method](path).expect(401);
      expect(none.body.error.code).toBe("E_UNAUTHORIZED");
      await request(api.app)
        [method](path)
        .set(auth(`sw_${"x".repeat(43)}`))
        .expect(401);
      const forbidden = await request(api.app)
        [method](path)
        .set(auth(guildKey))
        .send({ tags: ["guild:1"] })
        .expect(403);
      expect(forbidden.body.error.code).toBe("E_FORBIDDEN");
    }
    await request(api.app).get("/api/admin/cache/stats?keyspace=false").set(admin()).expect(200);
  });

  it("stats report this application's own numbers, keyspace only when asked, and 400 for a bad keyspace flag", async () => {
    const other = createCache({
      redis: api.redis.client,
      subscriber: api.redis.subscriber,
      prefix: uniquePrefix("admin-other"),
    });
    try {
      // Another application on the same Redis: its lookups and keys must not show up in ours.
      for (let i = 0; i < 40; i++) await other.set(`k${i}`, i);
      for (let i = 0; i < 40; i++) await other.get(`k${i}`, {});
      const before = (await request(api.app).get("/api/admin/cache/stats").set(admin()).expect(200)).body;
      const stats = { guild: randomSnowflake() };
      expect(await readAnalytic("roles", stats.guild)).toBe("MISS");
      expect(await readAnalytic("roles", stats.guild)).toBe("HIT");
      const res = await request(api.app).get("/api/admin/cache/stats").set(admin()).expect(200);
      const after = res.body;
      expect(res.headers["cache-control"]).toBe("no-store");
      expect(after.instance.misses - before.instance.misses).toBe(1);
      expect(
        after.instance.hits.l1 + after.instance.hits.l2 - (before.instance.hits.l1 + before.instance.hits.l2),
      ).toBe(1);
      expect(after.breaker.state).toBe("closed");
      // The other application is another prefix: the fleet is this app's one instance.
      expect(after.fleet).toMatchObject({ scope: "fleet", activeInstances: [api.cache.instanceId] });
      expect(after.keyspace.keys).toBeGreaterThanOrEqual(1);
      expect(after.keyspace.keys).toBe((await scanKeys(api.redis, `${api.prefix}:*`)).length);
      expect(after.keyspace.keys).toBeLessThan(40);

      const skipped = await request(api.app).get("/api/admin/cache/stats?keyspace=false").set(admin()).expect(200);
      expect(skipped.body.keyspace).toBeNull();
      const bad = await request(api.app).get("/api/admin/cache/stats?keyspace=maybe").set(admin()).expect(400);
      expect(bad.body.error.details).toEqual([{ field: "keyspace", message: 'must be "true" or "false"' }]);
    } finally {
      await other.clear();
      await other.close();
    }
  });

  it("invalidating tags makes the next analytics read a MISS, and logs the action with the key's id and name only", async () => {
    expect(await readAnalytic("ghosts")).toBe("MISS");
    expect(await readAnalytic("ghosts")).toBe("HIT");
    const res = await request(api.app)
      .post("/api/admin/cache/invalidate")
      .set(admin())
      .send({ tags: [`guild:${guildId}`] })
      .expect(200);
    expect(res.body).toMatchObject({ tags: [`guild:${guildId}`], mode: "hard", approximate: true });
    expect(res.body.entries).toBeGreaterThanOrEqual(1);
    expect(await readAnalytic("ghosts")).toBe("MISS");

    const line = logs.lines.map((raw) => JSON.parse(raw)).find((entry) => entry.action === "cache.invalidate");
    expect(line).toMatchObject({
      level: 30,
      msg: "admin action",
      admin: { keyId: adminKey.id, name: "ops admin" },
      input: { tags: [`guild:${guildId}`], mode: "hard" },
      outcome: "ok",
    });
    expect(logs.lines.join("\n")).not.toContain(adminKey.secret);
    expect(logs.lines.join("\n")).not.toContain(guildKey);
  });

  it("guildId + types invalidates exactly those analytics of that guild", async () => {
    const guild = randomSnowflake();
    const otherGuild = randomSnowflake();
    for (const g of [guild, otherGuild]) {
      for (const type of ["ghosts", "lurkers"]) expect(await readAnalytic(type, g)).toBe("MISS");
    }
    const res = await request(api.app)
      .post("/api/admin/cache/invalidate")
      .set(admin())
      .send({ guildId: guild, types: ["ghosts"], mode: "hard" })
      .expect(200);
    expect(res.body.tags).toEqual([`analytics:ghosts:guild:${guild}`]);
    expect(await readAnalytic("ghosts", guild)).toBe("MISS");
    expect(await readAnalytic("lurkers", guild)).toBe("HIT");
    expect(await readAnalytic("ghosts", otherGuild)).toBe("HIT");

    // Without types: every analytic of the guild.
    const all = await request(api.app)
      .post("/api/admin/cache/invalidate")
      .set(admin())
      .send({ guildId: guild })
      .expect(200);
    expect(all.body.tags).toEqual([`guild:${guild}`]);
    expect(await readAnalytic("lurkers", guild)).toBe("MISS");
    expect(await readAnalytic("lurkers", otherGuild)).toBe("HIT");
  });

  it("purge deletes exactly the entries carrying the tag", async () => {
    await api.cache.set("purge:a", 1, { tags: ["user:42"] });
    await api.cache.set("purge:b", 2, { tags: ["user:42", "guild:7"] });
    await api.cache.set("purge:c", 3, { tags: ["user:43"] });
    await api.cache.set("purge:d", 4);
    const res = await request(api.app).post("/api/admin/cache/purge").set(admin()).send({ tag: "user:42" }).expect(200);
    expect(res.body).toMatchObject({ tag: "user:42", deleted: 2 });
    const full = (key: string) => `${api.prefix}:v1:${key}`;
    expect(await api.redis.client.exists(full("purge:a"), full("purge:b"))).toBe(0);
    expect(await api.redis.client.exists(full("purge:c"), full("purge:d"))).toBe(2);
    expect(await api.cache.get("purge:c")).toBe(3);
  });

  it("clear needs ?confirm=yes and deletes only this prefix's entries", async () => {
    const otherPrefix = uniquePrefix("admin-keep");
    const other = createCache({ redis: api.redis.client, subscriber: api.redis.subscriber, prefix: otherPrefix });
    try {
      await other.set("survivor", "keep me");
      await api.cache.set("clear:a", 1);
      await api.cache.set("clear:b", 2, { tags: ["x"] });
      for (const query of ["", "?confirm=no", "?confirm=YES"]) {
        const res = await request(api.app).delete(`/api/admin/cache${query}`).set(admin()).expect(400);
        expect(res.body.error.details.map((detail: { field: string }) => detail.field)).toEqual(["confirm"]);
      }
      expect(await api.cache.get("clear:a")).toBe(1);

      const res = await request(api.app).delete("/api/admin/cache?confirm=yes").set(admin()).expect(200);
      expect(res.body.deleted).toBeGreaterThanOrEqual(2);
      expect(await scanKeys(api.redis, `${api.prefix}:v1:*`)).toEqual([]);
      expect(await api.redis.client.get(`${otherPrefix}:v1:survivor`)).toContain("keep me");
      expect(await other.get("survivor")).toBe("keep me");
    } finally {
      await other.clear();
      await other.close();
    }
  });

  it.each([
    ["no body at all", undefined, ["body"]],
    ["a JSON array", ["guild:1"], ["body"]],
    ["an empty object", {}, ["tags"]],
    ["an empty tag list", { tags: [] }, ["tags"]],
    ["a tag with a space", { tags: ["guild: 1"] }, ["tags.0"]],
    ["a glob tag", { tags: ["guild:*"] }, ["tags.0"]],
    ["a non-string tag", { tags: [12] }, ["tags.0"]],
    ["101 tags", { tags: Array.from({ length: 101 }, (_, i) => `t:${i}`) }, ["tags"]],
    ["a bad mode", { tags: ["guild:1"], mode: "medium" }, ["mode"]],
    ["an unknown field", { tags: ["guild:1"], everything: true }, ["everything"]],
    ["tags and guildId together", { tags: ["guild:1"], guildId: "123456789012345678" }, ["tags"]],
    ["a bad guildId", { guildId: "12" }, ["guildId"]],
    ["an unknown analytics type", { guildId: "123456789012345678", types: ["ghosts", "spies"] }, ["types.1"]],
    ["an empty type list", { guildId: "123456789012345678", types: [] }, ["types"]],
  ])("invalidate answers 400 naming the field for %s", async (_label, body, fields) => {
    const req = request(api.app).post("/api/admin/cache/invalidate").set(admin());
    const res = await (body === undefined ? req : req.send(body)).expect(400);
    expect(res.body.error.code).toBe("E_VALIDATION");
    expect(res.body.error.details.map((detail: { field: string }) => detail.field)).toEqual(fields);
    for (const field of fields) expect(res.body.error.message).toContain(field);
  });

  it("purge answers 400 naming tag for a missing or bad tag, and 400 for malformed JSON", async () => {
    for (const body of [{}, { tag: "" }, { tag: "a b" }, { tag: ["x"] }]) {
      const res = await request(api.app).post("/api/admin/cache/purge").set(admin()).send(body).expect(400);
      expect(res.body.error.details.map((detail: { field: string }) => detail.field)).toEqual(["tag"]);
    }
    const malformed = await request(api.app)
      .post("/api/admin/cache/purge")
      .set(admin())
      .set("content-type", "application/json")
      .send('{"tag": ')
      .expect(400);
    expect(malformed.body.error.code).toBe("E_BAD_REQUEST_BODY");
  });
});

describe("admin cache routes while Redis is down", () => {
  let prisma: PrismaClient;
  let keys: ApiKeyService;
  let server: ThrowawayRedis;
  let api: AdminApi;
  let adminSecret: string;

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    const { logger } = capturingLogger();
    keys = new ApiKeyService({ prisma, logger });
    adminSecret = (await keys.createKey({ name: "outage admin", admin: true })).secret;
    server = await ThrowawayRedis.start();
    // The production command timeout (250 ms): this is about failing fast.
    api = buildAdminApi({ prisma, keys, redisUrl: server.url, logger, commandTimeoutMs: 250 });
    await waitForRedisReady(api.redis.client, 5_000);
    await api.cache.set("before-outage", 1, { tags: ["t:1"] });
  });
  afterAll(async () => {
    await api?.close();
    await server?.kill();
    await keys?.whenIdle();
    await prisma?.$disconnect();
  });

  it("invalidate, purge and clear answer 503 E_CACHE_UNAVAILABLE quickly; stats still answers", async () => {
    await server.kill();
    const admin = { authorization: `Bearer ${adminSecret}` };
    const calls = [
      () =>
        request(api.app)
          .post("/api/admin/cache/invalidate")
          .set(admin)
          .send({ tags: ["t:1"] }),
      () => request(api.app).post("/api/admin/cache/purge").set(admin).send({ tag: "t:1" }),
      () => request(api.app).delete("/api/admin/cache?confirm=yes").set(admin),
    ];
    // Twice each: the first calls find the connection down, later ones may meet the open breaker; both are 503.
    for (let round = 0; round < 2; round++) {
      for (const call of calls) {
        const started = performance.now();
        const res = await call();
        expect(performance.now() - started).toBeLessThan(1_000);
        expect(res.status).toBe(503);
        expect(res.body.error).toMatchObject({ code: "E_CACHE_UNAVAILABLE", details: { dependency: "redis" } });
      }
    }
    const started = performance.now();
    const stats = await request(api.app).get("/api/admin/cache/stats").set(admin).expect(200);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(stats.body.fleet).toBeNull();
    expect(stats.body.keyspace).toBeNull();
    expect(stats.body.instance).toMatchObject({ scope: "instance" });
  });
});
