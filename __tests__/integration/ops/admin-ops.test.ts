import { Command, CommanderError } from "commander";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { guildAnalyticsTag, guildTag } from "../../../backend/src/analytics/analytics-catalog.ts";
import { openServiceCache, registerCacheCommand } from "../../../backend/src/cli/cache-command.ts";
import { CacheInvalidationService } from "../../../backend/src/invalidation/cache-invalidation-service.ts";
import { loggedEventInvalidator } from "../../../backend/src/ops/logged-invalidations.ts";
import { userTag } from "../../../backend/src/ops/user-tag.ts";
import { waitForRedisReady } from "../../../backend/src/redis/redis-connections.ts";
import { startService, type RunningService } from "../../../backend/src/service.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { randomSnowflake, testConfig, testLogger } from "../../support/test-env.ts";

const ADMIN_KEY = "ops-admin-key-0123456789abcdefgh";
const METRICS_TOKEN = "ops-metrics-token-0123456789";
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

describe("operators' routes, logs and alerts against the running service on a real (throwaway) Redis and PostgreSQL", () => {
  let redis: ThrowawayRedis;
  let service: RunningService;
  let raw: Redis;
  const env = {
    ADMIN_API_KEY: ADMIN_KEY,
    METRICS_TOKEN,
    // Evaluations are made by the test (action=monitor); the interval never comes round.
    ALERT_EVAL_INTERVAL_MS: "600000",
    ALERT_WINDOW_MS: "1200000",
    CLEANUP_INTERVAL_MS: "0",
  };
  let config: ReturnType<typeof testConfig>;

  beforeAll(async () => {
    redis = await ThrowawayRedis.start();
    config = testConfig({ ...env, REDIS_URL: redis.url });
    service = await startService(config, testLogger());
    await waitForRedisReady(service.redis.client, 5_000);
    raw = new Redis(redis.url);
  });
  afterAll(async () => {
    raw?.disconnect();
    await service?.stop();
    await redis?.kill();
  });

  const entryKey = (type: string, guildId: string, suffix = "w") => `analytics:${type}:${guildId}:${suffix}`;
  async function cached(
    guildId: string,
    options: { userId?: string; type?: string; suffix?: string } = {},
  ): Promise<string> {
    const type = options.type ?? "ghosts";
    const key = entryKey(type, guildId, options.suffix);
    const tags = [
      guildTag(guildId),
      guildAnalyticsTag("ghosts", guildId),
      ...(options.userId ? [userTag(options.userId)] : []),
    ];
    await service.cache.set(key, { items: [guildId] }, { ttl: "5m", tags });
    return key;
  }

  it("invalidates by key, pattern, guild and user; each is logged and readable with ?limit and ?guildId", async () => {
    const guildId = randomSnowflake();
    const userId = randomSnowflake();
    const byKey = await cached(guildId, { suffix: "k" });
    await cached(guildId, { type: "heatmap", suffix: "p1" });
    await cached(guildId, { type: "heatmap", suffix: "p2" });
    const byUser = await cached(randomSnowflake(), { userId });
    const byGuild = await cached(guildId, { suffix: "g" });

    expect(
      (
        await request(service.server)
          .delete("/api/admin/monitoring/cache/invalidate")
          .query({ key: byKey })
          .set(auth)
          .expect(200)
      ).body,
    ).toEqual({ key: byKey, deleted: true });
    expect(await service.cache.get(byKey)).toBeUndefined();
    const pattern = await request(service.server)
      .delete("/api/admin/monitoring/cache/invalidate")
      .query({ pattern: `analytics:heatmap:${guildId}:*` })
      .set(auth)
      .expect(200);
    expect(pattern.body.deleted).toBe(2);
    const user = await request(service.server)
      .delete("/api/admin/monitoring/cache/invalidate")
      .query({ userId })
      .set(auth)
      .expect(200);
    expect(user.body).toMatchObject({ userId, tags: [`user:${userId}`], mode: "hard" });
    expect(await service.cache.get(byUser)).toBeUndefined();
    const guild = await request(service.server)
      .delete("/api/admin/monitoring/cache/invalidate")
      .query({ guildId })
      .set(auth)
      .expect(200);
    expect(guild.body).toMatchObject({ guildId, tags: [`guild:${guildId}`] });
    expect(await service.cache.get(byGuild)).toBeUndefined();

    const log = await request(service.server)
      .get("/api/admin/cache/invalidations")
      .query({ limit: 10 })
      .set(auth)
      .expect(200);
    const actions = log.body.entries.map((entry: { action: string }) => entry.action);
    expect(actions.slice(0, 4)).toEqual(["guild", "user", "pattern", "key"]);
    expect(log.body.entries[0]).toMatchObject({
      source: "admin",
      cause: expect.stringContaining("admin key"),
      guildId,
      tags: [`guild:${guildId}`],
      mode: "hard",
      outcome: "ok",
      durationMs: expect.any(Number),
    });
    expect(log.body.entries[2]).toMatchObject({
      action: "pattern",
      target: `analytics:heatmap:${guildId}:*`,
      count: 2,
      mode: "delete",
    });
    const forGuild = await request(service.server)
      .get("/api/admin/cache/invalidations")
      .query({ guildId, limit: 50 })
      .set(auth)
      .expect(200);
    expect(forGuild.body.entries.map((entry: { action: string }) => entry.action)).toEqual(["guild"]);
    await request(service.server).get("/api/admin/cache/invalidations").query({ limit: 0 }).set(auth).expect(400);
    await request(service.server).get("/api/admin/cache/invalidations").query({ guildId: "12" }).set(auth).expect(400);
    await request(service.server).get("/api/admin/cache/invalidations").expect(401);
  });

  it.each([["*"], ["_sys:*"], ["a b*"], ["{x}*"], ["analytics:[ghosts*"]])(
    "refuses the pattern %j with 400, deleting nothing",
    async (pattern) => {
      const res = await request(service.server)
        .delete("/api/admin/monitoring/cache/invalidate")
        .query({ pattern })
        .set(auth)
        .expect(400);
      expect(res.body.error.code).toBe("E_VALIDATION");
      expect(res.body.error.details[0].field).toBe("pattern");
    },
  );

  it("logs event-driven invalidations once per coalescing window, however many events arrived", async () => {
    const guildId = randomSnowflake();
    const invalidation = new CacheInvalidationService({
      cache: loggedEventInvalidator(service.cache, service.ops.invalidationLog, 100),
      logger: testLogger(),
      coalesceMs: 100,
      mode: "soft",
    });
    for (let i = 0; i < 50; i += 1) invalidation.notify(guildId, ["message", "typing"]);
    await invalidation.close();
    const entries = await service.ops.invalidationLog.recent({ limit: 10, guildId });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ source: "event", action: "tags", mode: "soft", guildId, outcome: "ok" });
    expect(entries[0]!.tags).toContain(guildAnalyticsTag("ghosts", guildId));
  });

  it("metrics summary / health / report, and reset-metrics starts the summary counters from zero", async () => {
    const key = `ops:summary:${randomSnowflake()}`;
    await service.cache.remember(key, "5m", async () => 1);
    await service.cache.remember(key, "5m", async () => 1);
    const summary = await request(service.server)
      .get("/api/admin/monitoring/cache/metrics")
      .query({ type: "summary" })
      .set(auth)
      .expect(200);
    expect(summary.body.sinceReset.hits.total).toBeGreaterThan(0);
    expect(summary.body.locks).toEqual({
      attempts: expect.any(Number),
      acquired: expect.any(Number),
      contended: expect.any(Number),
      failures: expect.any(Number),
    });
    const health = await request(service.server)
      .get("/api/admin/monitoring/cache/metrics")
      .query({ type: "health" })
      .set(auth)
      .expect(200);
    expect(health.body.healthScore).toMatchObject({
      score: expect.any(Number),
      grade: expect.stringMatching(/healthy|degraded|unhealthy/),
      components: { hitRate: expect.any(Number), responseTime: expect.any(Number), errorRate: expect.any(Number) },
    });
    expect(health.body.health.checks.map((check: { name: string }) => check.name)).toContain("redis");
    const report = await request(service.server)
      .get("/api/admin/monitoring/cache/metrics")
      .query({ type: "report" })
      .set(auth)
      .expect(200);
    expect(Object.keys(report.body)).toEqual(
      expect.arrayContaining([
        "summary",
        "healthScore",
        "health",
        "stats",
        "alerts",
        "recentAlerts",
        "recentInvalidations",
      ]),
    );
    await request(service.server)
      .get("/api/admin/monitoring/cache/metrics")
      .query({ type: "bogus" })
      .set(auth)
      .expect(400);

    await request(service.server)
      .delete("/api/admin/monitoring/cache/metrics")
      .query({ action: "nope" })
      .set(auth)
      .expect(400);
    const reset = await request(service.server)
      .delete("/api/admin/monitoring/cache/metrics")
      .query({ action: "reset-metrics" })
      .set(auth)
      .expect(200);
    expect(reset.body.resetAt).toEqual(expect.any(String));
    const after = await request(service.server).get("/api/admin/monitoring/cache/metrics").set(auth).expect(200);
    expect(after.body.sinceReset).toMatchObject({ lookups: 0, hits: { total: 0 }, since: reset.body.resetAt });
  });

  it("the health score is in the stats route and on /metrics", async () => {
    const stats = await request(service.server).get("/api/admin/cache/stats?keyspace=false").set(auth).expect(200);
    expect(stats.body.healthScore).toMatchObject({
      score: expect.any(Number),
      basis: "fleet-window",
      windowMs: 300_000,
    });
    expect(stats.body.healthScore.score).toBeGreaterThanOrEqual(0);
    expect(stats.body.healthScore.score).toBeLessThanOrEqual(100);
    const metrics = await request(service.server)
      .get("/metrics")
      .set("authorization", `Bearer ${METRICS_TOKEN}`)
      .expect(200);
    expect(metrics.text).toMatch(/^spywatcher_cache_health_score \d+(\.\d+)?$/m);
    expect(metrics.text).toMatch(/^spywatcher_cache_health_score_component\{component="hitRate"\} /m);
    expect(metrics.text).toMatch(/^spywatcher_cache_lock_acquisitions_total\{outcome="failed"\} \d+$/m);
  });

  it("scheduled cleanup: a dry run reports invalidated entries and removes nothing; the real run removes and logs them; 409 while another holds the lock", async () => {
    const guildId = randomSnowflake();
    const key = await cached(guildId, { suffix: "sweep" });
    await service.cache.invalidateByTags([guildTag(guildId)]);
    const fullKey = `${config.redis.keyPrefix}:cache:${config.cache.version}:${key}`;
    expect(await raw.exists(fullKey)).toBe(1);

    const dry = await request(service.server)
      .post("/api/admin/monitoring/cache/cleanup")
      .query({ action: "scheduled", dryRun: "true" })
      .set(auth)
      .expect(200);
    expect(dry.body).toMatchObject({ kind: "expired", dryRun: true, deleted: 0 });
    expect(dry.body.invalidated).toBeGreaterThanOrEqual(1);
    expect(dry.body.sample).toContain(fullKey);
    expect(await raw.exists(fullKey)).toBe(1);

    const real = await request(service.server)
      .post("/api/admin/monitoring/cache/cleanup")
      .query({ action: "scheduled" })
      .set(auth)
      .expect(200);
    expect(real.body.deleted).toBeGreaterThanOrEqual(1);
    expect(await raw.exists(fullKey)).toBe(0);
    const [latest] = await service.ops.invalidationLog.recent({ limit: 1 });
    expect(latest).toMatchObject({ source: "scheduled", action: "cleanup", mode: "delete", count: real.body.deleted });

    await raw.set(service.ops.keys.cleanupLock(), "someone-else", "PX", 10_000);
    try {
      const busy = await request(service.server)
        .post("/api/admin/monitoring/cache/cleanup")
        .query({ action: "scheduled" })
        .set(auth)
        .expect(409);
      expect(busy.body.error.code).toBe("E_CLEANUP_RUNNING");
    } finally {
      await raw.del(service.ops.keys.cleanupLock());
    }
  });

  it("flush-all needs confirm=flush-all and deletes only this application's entries", async () => {
    const key = await cached(randomSnowflake());
    await raw.set("not-ours:survivor", "1");
    await request(service.server)
      .post("/api/admin/monitoring/cache/cleanup")
      .query({ action: "flush-all" })
      .set(auth)
      .expect(400);
    expect(await service.cache.get(key)).toBeDefined();
    const res = await request(service.server)
      .post("/api/admin/monitoring/cache/cleanup")
      .query({ action: "flush-all", confirm: "flush-all" })
      .set(auth)
      .expect(200);
    expect(res.body.deleted).toBeGreaterThanOrEqual(1);
    expect(await service.cache.get(key)).toBeUndefined();
    expect(await raw.get("not-ours:survivor")).toBe("1");
    expect((await service.ops.invalidationLog.recent({ limit: 1 }))[0]).toMatchObject({
      action: "clear",
      source: "admin",
    });
  });

  it("real evictions fire redis_evictions (medium): action=monitor returns it as new, action=recent and `cache status --alerts` show it (exit 1)", async () => {
    await request(service.server).get("/api/admin/alerts").query({ action: "monitor" }).set(auth).expect(200); // baseline sample
    const used = Number(/used_memory:(\d+)/.exec(await raw.info("memory"))![1]);
    await raw.config("SET", "maxmemory-policy", "allkeys-random");
    await raw.config("SET", "maxmemory", String(used + 400_000));
    try {
      const filler = "x".repeat(10_000);
      for (let i = 0; i < 100; i += 1) await raw.set(`filler:${i}`, filler);
      expect(Number(/evicted_keys:(\d+)/.exec(await raw.info("stats"))![1])).toBeGreaterThan(0);
    } finally {
      await raw.config("SET", "maxmemory", "0");
    }
    const monitor = await request(service.server)
      .get("/api/admin/alerts")
      .query({ action: "monitor" })
      .set(auth)
      .expect(200);
    expect(monitor.body.newAlerts.map((alert: { id: string }) => alert.id)).toContain("redis_evictions");
    expect(monitor.body.newAlerts.find((alert: { id: string }) => alert.id === "redis_evictions").severity).toBe(
      "medium",
    );
    await vi.waitFor(async () => {
      const recent = await request(service.server)
        .get("/api/admin/alerts")
        .query({ action: "recent", limit: 5 })
        .set(auth)
        .expect(200);
      expect(recent.body.history[0]).toMatchObject({
        alert: "redis_evictions",
        state: "firing",
        severity: "medium",
        instance: config.alerts.instance,
      });
    });
    await request(service.server).get("/api/admin/alerts").query({ action: "bogus" }).set(auth).expect(400);

    // The CLI, a separate cache instance on the same Redis and prefix, reads the same shared history.
    let output = "";
    const program = new Command()
      .exitOverride()
      .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerCacheCommand(program, { open: () => openServiceCache(config), write: (text) => void (output += text) });
    const before = process.exitCode;
    try {
      await program.parseAsync(["node", "spywatcher", "cache", "status", "--alerts", "--json"]);
      expect(process.exitCode).toBe(1);
    } finally {
      process.exitCode = before;
    }
    const json = JSON.parse(output);
    expect(json.schema).toBe("spywatcher.cache-status/1");
    expect(json.alerts.firing.map((alert: { alert: string }) => alert.alert)).toContain("redis_evictions");
    expect(CommanderError).toBeDefined();
  });
});
