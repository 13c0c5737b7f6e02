import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { apiKeyUserId } from "../../backend/src/auth/principal.ts";
import { analyticsAffectedBy } from "../../backend/src/invalidation/invalidation-table.ts";
import type { AppConfig } from "../../backend/src/config/config.ts";
import {
  type CacheInvalidationService,
  type CacheService,
  PubSubService,
} from "../../backend/src/documented-services.ts";
import { startService, type RunningService } from "../../backend/src/service.ts";
import { startFakeDiscord, type FakeDiscord } from "../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import { testGuild, type TestGuild } from "../support/fake-discord-guild.ts";
import { TEST_REDIS_URL, testConfig, testLogger, uniquePrefix } from "../support/test-env.ts";
import { TestSocket } from "../support/ws-test-client.ts";

const ADMIN_KEY = `sw_seed_${uniquePrefix("admin-key-seed-contract")}`;

/**
 * Document 001 (../shared/seeds/001-spywatcher-redis-caching-layer.md), exercised as it is written: its calls with
 * its arguments, its routes with its shapes, against the real service on real Redis and PostgreSQL.
 */
describe("document 001, as written: CacheService, PubSubService, CacheInvalidationService and the admin monitoring routes", () => {
  let t: TestGuild;
  let fake: FakeDiscord;
  let config: AppConfig;
  let service: RunningService;
  let base: string;
  let guildKey: { id: string; secret: string };
  let cache: CacheService;
  let pubsub: PubSubService;
  let cacheInvalidation: CacheInvalidationService;
  let guildId: string;

  const call = (method: string, path: string, key: string | null = ADMIN_KEY) =>
    fetch(`${base}${path}`, { method, headers: key ? { Authorization: `Bearer ${key}` } : {} });
  /** Document 001's logical keys live under `<REDIS_KEY_PREFIX>:cache:v1:`. */
  const redisKey = (key: string) => `${config.redis.keyPrefix}:cache:v1:${key}`;

  beforeAll(async () => {
    t = testGuild();
    guildId = t.guild.id;
    fake = await startFakeDiscord({ guilds: [t.guild] });
    config = testConfig({
      DISCORD_ENABLED: "true",
      DISCORD_TOKEN: "seed-contract-token",
      DISCORD_API_URL: fake.apiUrl,
      ADMIN_API_KEY: ADMIN_KEY,
      INVALIDATION_COALESCE_MS: "100",
      WS_HEARTBEAT_INTERVAL_MS: "600000",
    });
    service = await startService(config, testLogger());
    await service.realtime.subscribed;
    base = `http://127.0.0.1:${service.port}`;
    const created = await service.apiKeys.createKey({ name: "seed contract guild key", guildIds: [guildId] });
    guildKey = { id: created.record.id, secret: created.secret };
    ({ cache, pubsub } = service.services);
    cacheInvalidation = service.services.cacheInvalidation!;
  });
  afterAll(async () => {
    await service?.stop();
    await fake?.close();
  });

  describe("CacheService (`cache`)", () => {
    it("get/set with { ttl: 300, tags }: the TTL is seconds (PTTL between 300 s and 300 s + grace)", async () => {
      const key = `analytics:ghosts:${guildId}:all`;
      const value = { items: [{ userId: "1", ghostScore: 3 }] };
      await cache.set(key, value, {
        ttl: 300, // 5 minutes
        tags: [`guild:${guildId}`, "analytics:ghosts"],
      });
      expect(await cache.get<typeof value>(key)).toEqual(value);
      const pttl = await service.redis.client.pttl(redisKey(key));
      expect(pttl).toBeGreaterThan(295_000);
      expect(pttl).toBeLessThanOrEqual(300_000 + config.cache.graceMs);
    });

    it("remember(key, 300, fn, { tags }) caches for 300 s; getOrSet is the same call", async () => {
      let runs = 0;
      const expensiveOperation = async () => ({ run: ++runs });
      const key = `seed:remember:${guildId}`;
      const result = await cache.remember(
        key,
        300,
        async () => {
          return await expensiveOperation();
        },
        { tags: ["my-tag"] },
      );
      expect(result).toEqual({ run: 1 });
      expect(await cache.remember(key, 300, expensiveOperation, { tags: ["my-tag"] })).toEqual({ run: 1 });
      expect(await cache.getOrSet(key, 300, expensiveOperation, { tags: ["my-tag"] })).toEqual({ run: 1 });
      const pttl = await service.redis.client.pttl(redisKey(key));
      expect(pttl).toBeGreaterThan(295_000);
      expect(runs).toBe(1);
    });

    it("invalidateByTag / invalidateByTags resolve to the number of entries invalidated", async () => {
      const tag = `guild:${guildId}`;
      await cache.set(`seed:inv:a:${guildId}`, 1, { ttl: 300, tags: [tag, "analytics:ghosts"] });
      await cache.set(`seed:inv:b:${guildId}`, 2, { ttl: 300, tags: [tag] });
      const count = await cache.invalidateByTag(tag);
      expect(typeof count).toBe("number");
      expect(count).toBeGreaterThanOrEqual(2);
      expect(await cache.get(`seed:inv:a:${guildId}`)).toBeUndefined();
      await cache.set(`seed:inv:c:${guildId}`, 3, { ttl: 300, tags: ["analytics:ghosts"] });
      expect(await cache.invalidateByTag("analytics:ghosts")).toBeGreaterThanOrEqual(1);
      expect(await cache.invalidateByTags([`guild:${guildId}`, "analytics:ghosts"])).toBe(0);
      // The richer report is one call away.
      expect(await cache.invalidateByTagsWithReport([tag])).toEqual({ tags: [tag], entries: 0, approximate: true });
    });

    it("warm([{ key, value, options: { ttl, tags } }]) stores the values as given", async () => {
      const fetchGhostData = async (id: string) => ({ guildId: id, items: [] });
      await cache.warm([
        {
          key: `analytics:ghosts:${guildId}:all`,
          value: await fetchGhostData(guildId),
          options: { ttl: 300, tags: [`guild:${guildId}`] },
        },
      ]);
      expect(await cache.get(`analytics:ghosts:${guildId}:all`)).toEqual({ guildId, items: [] });
      expect(await service.redis.client.pttl(redisKey(`analytics:ghosts:${guildId}:all`))).toBeGreaterThan(295_000);
      // Loader entries keep working beside them.
      const report = await cache.warm([
        { key: `seed:warm:loader:${guildId}`, ttl: 300, loader: async () => "computed" },
      ]);
      expect(report).toEqual({ warmed: 1, failed: [] });
    });

    it("deleteMany and clearPattern remove this application's keys only", async () => {
      await cache.set(`seed:del:1:${guildId}`, 1, { ttl: 300 });
      await cache.set(`seed:del:2:${guildId}`, 2, { ttl: 300 });
      expect(
        await cache.deleteMany([`seed:del:1:${guildId}`, `seed:del:2:${guildId}`, `seed:del:missing:${guildId}`]),
      ).toBe(2);
      for (const i of [1, 2, 3]) await cache.set(`seed:pattern:${guildId}:${i}`, i, { ttl: 300 });
      const foreign = `${uniquePrefix("not-ours")}:seed:pattern:${guildId}:1`;
      await service.redis.client.set(foreign, "untouched", "EX", 60);
      expect(await cache.clearPattern(`seed:pattern:${guildId}:*`)).toBe(3);
      expect(await service.redis.client.get(foreign)).toBe("untouched");
      await service.redis.client.del(foreign);
    });

    it("getStats() has the documented fields at the top level, beside the richer sections", async () => {
      const stats = await cache.getStats();
      expect(stats).toMatchObject({
        hits: expect.any(Number),
        misses: expect.any(Number),
        hitRate: expect.any(Number),
        memoryUsed: expect.stringMatching(/^\d+(\.\d+)?[BKMGT]$/),
        evictedKeys: expect.any(Number),
        keyCount: expect.any(Number),
      });
      expect(stats.hits).toBeGreaterThan(0);
      expect(stats.keyCount).toBeGreaterThan(0);
      expect(stats.instance.scope).toBe("instance");
    });
  });

  describe("admin monitoring routes (admin key only)", () => {
    it("401 without a key, 403 with a guild key", async () => {
      for (const [method, path] of [
        ["GET", "/api/admin/monitoring/cache/stats"],
        ["DELETE", "/api/admin/monitoring/cache/clear"],
        ["DELETE", `/api/admin/monitoring/cache/invalidate/guild:${guildId}`],
      ] as const) {
        expect((await call(method, path, null)).status, `${method} ${path}`).toBe(401);
        expect((await call(method, path, guildKey.secret)).status, `${method} ${path}`).toBe(403);
      }
    });

    it("GET /api/admin/monitoring/cache/stats answers the documented shape", async () => {
      const response = await call("GET", "/api/admin/monitoring/cache/stats");
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(Object.keys(body).slice(0, 3)).toEqual(["stats", "status", "timestamp"]);
      expect(Object.keys(body.stats as object)).toEqual([
        "hits",
        "misses",
        "hitRate",
        "memoryUsed",
        "evictedKeys",
        "keyCount",
      ]);
      expect(body.status).toMatch(/^(healthy|degraded|unhealthy)$/);
      expect(new Date(body.timestamp as string).toISOString()).toBe(body.timestamp);
      const stats = body.stats as { hitRate: number };
      expect(Math.round(stats.hitRate * 100) / 100).toBe(stats.hitRate);
      if (body.status !== "healthy") expect((body.reasons as string[]).length).toBeGreaterThan(0);
    });

    it("the manual test: POST /api/analytics/ghosts?guildId= answers like GET, then invalidate by tag and clear", async () => {
      const post = await call("POST", `/api/analytics/ghosts?guildId=${guildId}`);
      expect(post.status).toBe(200);
      const posted = (await post.json()) as { type: string; guildId: string };
      expect(posted).toMatchObject({ type: "ghosts", guildId });
      const get = await call("GET", `/api/analytics/ghosts?guildId=${guildId}`);
      expect(get.headers.get("x-cache")).toBe("HIT");
      expect(await get.json()).toEqual(posted);

      const invalidated = await call("DELETE", `/api/admin/monitoring/cache/invalidate/guild:${guildId}`);
      expect(invalidated.status).toBe(200);
      const body = (await invalidated.json()) as { tag: string; invalidated: number };
      expect(body).toEqual({ tag: `guild:${guildId}`, invalidated: expect.any(Number) });
      expect(body.invalidated).toBeGreaterThanOrEqual(1);
      expect((await call("GET", `/api/analytics/ghosts?guildId=${guildId}`)).headers.get("x-cache")).toBe("MISS");

      // URL-decoded; a bad tag is a 400 naming the problem.
      expect(
        await (await call("DELETE", `/api/admin/monitoring/cache/invalidate/guild%3A${guildId}`)).json(),
      ).toMatchObject({ tag: `guild:${guildId}` });
      const bad = await call("DELETE", "/api/admin/monitoring/cache/invalidate/bad%20tag");
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({
        error: { code: "E_VALIDATION", message: expect.stringMatching(/^tag: may not contain whitespace/) },
      });

      const foreign = `${uniquePrefix("not-ours")}:x`;
      await service.redis.client.set(foreign, "untouched", "EX", 60);
      const cleared = await call("DELETE", "/api/admin/monitoring/cache/clear");
      expect(cleared.status).toBe(200);
      expect(((await cleared.json()) as { deleted: number }).deleted).toBeGreaterThanOrEqual(1);
      expect(await service.redis.client.get(foreign)).toBe("untouched");
      await service.redis.client.del(foreign);
      expect((await call("GET", `/api/analytics/ghosts?guildId=${guildId}`)).headers.get("x-cache")).toBe("MISS");
    });
  });

  describe("PubSubService (`pubsub`)", () => {
    it("publish / subscribe / psubscribe / unsubscribe with JSON, a throwing handler isolated from the others", async () => {
      const received: unknown[] = [];
      const patterned: [unknown, string][] = [];
      const failing = vi.fn(() => {
        throw new Error("handler bug");
      });
      const channel = `seed:${guildId}:channel-name`;
      await pubsub.subscribe(channel, failing);
      await pubsub.subscribe(channel, (message) => {
        received.push(message);
      });
      await pubsub.psubscribe(`seed:${guildId}:*`, (message, from) => {
        patterned.push([message, from]);
      });
      await pubsub.publish(channel, { data: "value" });
      await vi.waitFor(() => expect(received).toEqual([{ data: "value" }]));
      await vi.waitFor(() => expect(patterned).toEqual([[{ data: "value" }, channel]]));
      expect(failing).toHaveBeenCalledTimes(1);
      await pubsub.unsubscribe(channel);
      await pubsub.punsubscribe(`seed:${guildId}:*`);
      await pubsub.publish(channel, { data: "after" });
      await pubsub.publish(`seed:${guildId}:marker`, {});
      expect(received).toEqual([{ data: "value" }]);
    });

    it("re-subscribes after its connection is killed", async () => {
      const subscriber = new Redis(TEST_REDIS_URL, { lazyConnect: true });
      const publisher = new Redis(TEST_REDIS_URL);
      try {
        await subscriber.connect();
        const id = await subscriber.client("ID");
        const own = new PubSubService({
          publisher,
          subscriber,
          keyPrefix: uniquePrefix("seed-pubsub"),
          logger: testLogger(),
        });
        const received: unknown[] = [];
        await own.subscribe("updates", (message) => void received.push(message));
        const back = new Promise((resolve) => subscriber.once("ready", resolve));
        await publisher.client("KILL", "ID", String(id));
        await back;
        await vi.waitFor(async () => {
          await own.publish("updates", { n: 1 });
          expect(received.length).toBeGreaterThan(0);
        });
        expect(received[0]).toEqual({ n: 1 });
        await own.close();
      } finally {
        subscriber.disconnect();
        publisher.disconnect();
      }
    });

    it("publishAnalyticsUpdate(guildId, 'ghosts', data) reaches the guild's sockets as analytics:update with the data", async () => {
      const socket = await TestSocket.open(`ws://127.0.0.1:${service.port}/ws`, { key: ADMIN_KEY });
      try {
        await socket.subscribe(guildId);
        const data = { type: "ghosts", guildId, items: [{ userId: "1", ghostScore: 2 }] };
        await pubsub.publishAnalyticsUpdate(guildId, "ghosts", data);
        expect(await socket.nextUpdate()).toMatchObject({
          type: "analytics:update",
          guildId,
          types: ["ghosts"],
          analytic: "ghosts",
          data,
        });
        // Over the size bound: a version to refetch instead of the data.
        await pubsub.publishAnalyticsUpdate(guildId, "heatmap", { items: "x".repeat(70 * 1024) });
        const big = await socket.nextUpdate();
        expect(big).toMatchObject({ analytic: "heatmap", refetch: true, version: expect.any(String) });
        expect(big).not.toHaveProperty("data");
      } finally {
        await socket.close();
      }
    });

    it("publishNotification(userId, notification) reaches that user's sockets only; the API key's owner is the user", async () => {
      const mine = await TestSocket.open(`ws://127.0.0.1:${service.port}/ws`, { key: guildKey.secret });
      const admin = await TestSocket.open(`ws://127.0.0.1:${service.port}/ws`, { key: ADMIN_KEY });
      try {
        const userId = apiKeyUserId(guildKey.id); // "key:<keyId>": the key's owner
        const notification = { title: "Heads up", body: "a ghost appeared" };
        await pubsub.publishNotification(userId, notification);
        expect(await mine.next((m) => m.type === "notification")).toMatchObject({ type: "notification", notification });
        await pubsub.publishAdminNotification({ title: "admins only" });
        expect(await admin.next((m) => m.type === "notification")).toMatchObject({
          notification: { title: "admins only" },
        });
        expect(admin.received.filter((m) => m.type === "notification")).toHaveLength(1);
        expect(mine.received.filter((m) => m.type === "notification")).toHaveLength(1);
      } finally {
        await Promise.all([mine.close(), admin.close()]);
      }
    });
  });

  describe("CacheInvalidationService (`cacheInvalidation`)", () => {
    it("onMessageCreated / onTypingEvent / onPresenceUpdate / onRoleChanged invalidate, recompute and push the fresh results", async () => {
      const socket = await TestSocket.open(`ws://127.0.0.1:${service.port}/ws`, { key: ADMIN_KEY });
      try {
        await socket.subscribe(guildId);
        expect((await call("GET", `/api/analytics/roles?guildId=${guildId}`)).status).toBe(200);
        expect((await call("GET", `/api/analytics/roles?guildId=${guildId}`)).headers.get("x-cache")).toBe("HIT");

        const userId = t.humans[0]!.id;
        // Called automatically when events occur
        await cacheInvalidation.onMessageCreated(guildId);
        await cacheInvalidation.onTypingEvent(guildId);
        await cacheInvalidation.onPresenceUpdate(guildId, userId);
        await cacheInvalidation.onRoleChanged(guildId);
        await cacheInvalidation.flush();
        const expected = analyticsAffectedBy(["message", "typing", "presence", "roleChange"]);
        const analytics = new Set<string>();
        while (analytics.size < expected.length) {
          const update = await socket.nextUpdate();
          expect(update.data).toMatchObject({ type: update.analytic, guildId });
          analytics.add(update.analytic!);
        }
        expect([...analytics].sort()).toEqual([...expected].sort());
        // The recompute refilled the default window's entry: the dashboard's next read is a hit with the new numbers
        // (unless a minute boundary passed since: the default window's key is the minute's).
        const before = Math.floor(Date.now() / 60_000);
        const after = await call("GET", `/api/analytics/roles?guildId=${guildId}`);
        if (Math.floor(Date.now() / 60_000) === before) expect(after.headers.get("x-cache")).toBe("HIT");

        // The document's one-argument form: presence of a user, guild unknown (lurkers and clients of every guild).
        await expect(cacheInvalidation.onPresenceUpdate(userId)).resolves.toBeUndefined();
      } finally {
        await socket.close();
      }
    });
  });

  it('/metrics has the source designs\' names: cache_hit_rate{window="5m"}, cache_operation_latency_seconds, cache_circuit_breaker_state, cache_active_locks', async () => {
    const text = await (await call("GET", "/metrics")).text();
    expect(text).toMatch(/^cache_hit_rate\{window="5m"\} [\d.]+$/m);
    expect(text).toMatch(/^# TYPE cache_operation_latency_seconds histogram$/m);
    expect(text).toMatch(/^cache_operation_latency_seconds_bucket\{(?=.*le="0\.001024")(?=.*source="redis").*\} \d+$/m);
    expect(text).toMatch(/^cache_circuit_breaker_state 0$/m);
    expect(text).toMatch(/^cache_active_locks \d+$/m);
  });
});
