import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Command, CommanderError } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import { rememberAnalytics } from "../../../backend/src/analytics/cached-analytics.ts";
import type { SpyCache } from "../../../backend/src/cache/index.ts";
import { registerCacheCommand } from "../../../backend/src/cli/cache-command.ts";
import { exitCodeOf } from "../../../backend/src/cli/cli-usage.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { createRedisConnections, type RedisConnections } from "../../../backend/src/redis/redis-connections.ts";
import { cacheKeys, createServiceOps, type ServiceOps } from "../../../backend/src/ops/service-ops.ts";
import { createServiceCache, createServiceCacheWithStats } from "../../../backend/src/composition/service-cache.ts";
import { freePort, ThrowawayRedis } from "../../support/redis-server.ts";
import {
  randomSnowflake,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  testConfig,
  testLogger,
  uniquePrefix,
} from "../../support/test-env.ts";

const run = promisify(execFile);

describe("cache CLI (status, warm, invalidate, cleanup, clear) on real Redis and PostgreSQL", () => {
  const keyPrefix = uniquePrefix("cli-cache");
  // An absolute window: a relative one ("7d") names a new cache key every minute (since is rounded to the minute).
  const since = new Date(Date.now() - 7 * 86_400_000);
  const SINCE = since.toISOString();
  const config = testConfig({ REDIS_KEY_PREFIX: keyPrefix });
  let prisma: PrismaClient;
  let redis: RedisConnections;
  let cache: SpyCache;
  let ops: ServiceOps;
  let opens = 0;

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    redis = createRedisConnections(config.redis, testLogger());
    const built = createServiceCacheWithStats(config, redis, testLogger());
    cache = built.cache;
    ops = createServiceOps(
      config,
      { redis: redis.client, recorder: built.stats, lockCounters: built.lockCounters },
      testLogger(),
    );
    await cache.ready();
  });
  afterAll(async () => {
    await cache?.close();
    await redis?.close();
    await prisma?.$disconnect();
  });

  /** Runs one CLI line on a fresh program; resolves with what it printed, rejects with commander's error. */
  async function cli(...args: string[]): Promise<string> {
    let output = "";
    const program = new Command()
      .exitOverride()
      .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerCacheCommand(program, {
      open: async () => {
        opens += 1;
        return {
          cache,
          ops,
          redis: redis.client,
          cacheKeys: cacheKeys(config),
          analytics: () => createAnalyticsService({ prisma }),
          close: async () => undefined,
        };
      },
      write: (text) => void (output += text),
    });
    await program.parseAsync(["node", "spywatcher", ...args]);
    return output;
  }

  async function guildWithTyping(): Promise<string> {
    const guildId = randomSnowflake();
    await prisma.typingEvent.create({
      data: {
        guildId,
        channelId: randomSnowflake(),
        userId: randomSnowflake(),
        startedAt: new Date(Date.now() - 60_000),
      },
    });
    return guildId;
  }

  it("warm computes each analytic once into the entries the API reads; a second warm finds them cached", async () => {
    const guildId = await guildWithTyping();
    const first = JSON.parse(
      await cli(
        "cache",
        "warm",
        "--guild",
        guildId,
        "--type",
        "ghosts",
        "--type",
        "heatmap",
        "--since",
        SINCE,
        "--json",
      ),
    );
    expect(first).toEqual({ total: 2, computed: 2, alreadyCached: 0, failed: [] });
    const second = await cli(
      "cache",
      "warm",
      "--guild",
      guildId,
      "--type",
      "ghosts",
      "--type",
      "heatmap",
      "--since",
      SINCE,
    );
    expect(second).toBe("warmed 2 analytics: 0 computed, 2 already cached, 0 failed\n");
    // What the route serves for the same `since` is a hit on the warmed entry.
    const analytics = createAnalyticsService({ prisma });
    const served = await rememberAnalytics({ cache, analytics }, "ghosts", { guildId, since, limit: 100 });
    expect(served.status).toBe("hit");
    expect((served.value as { items: unknown[] }).items).toHaveLength(1);
  });

  it("invalidate --guild makes the guild's entries misses; cleanup frees them; warm computes again", async () => {
    const guildId = await guildWithTyping();
    const other = await guildWithTyping();
    await cli("cache", "warm", "--guild", guildId, "--guild", other, "--type", "ghosts", "--since", SINCE);
    expect(await cli("cache", "invalidate", "--guild", guildId, "--type", "ghosts")).toContain(
      `analytics:ghosts:guild:${guildId}`,
    );
    const cleaned = JSON.parse(await cli("cache", "cleanup", "--json"));
    expect(cleaned.deleted).toBeGreaterThanOrEqual(1);
    expect(cleaned.bytes).toBeGreaterThan(0);
    expect(cleaned.failed).toBe(0);
    const again = JSON.parse(
      await cli("cache", "warm", "--guild", guildId, "--guild", other, "--type", "ghosts", "--since", SINCE, "--json"),
    );
    // The invalidated guild is computed again; the other guild's entry was neither invalidated nor swept.
    expect(again).toMatchObject({ total: 2, computed: 1, alreadyCached: 1 });
  });

  it("status prints this application's fleet numbers and keys", async () => {
    const text = await cli("cache", "status");
    expect(text).toMatch(/^fleet \(\d+ active instance\(s\)/);
    expect(text).toMatch(/hit rate \d+(\.\d+)?%/);
    expect(text).toMatch(/keys: \d+ under this prefix/);
    const json = JSON.parse(await cli("cache", "status", "--json", "--no-keyspace"));
    expect(json.instance.lookups).toBeGreaterThan(0);
    expect(json.keyspace).toBeNull();
  });

  it("clear needs --yes, then deletes this prefix's entries only", async () => {
    const otherPrefix = uniquePrefix("cli-cache-other");
    const otherConfig = testConfig({ REDIS_KEY_PREFIX: otherPrefix });
    const otherCache = createServiceCache(otherConfig, redis, testLogger());
    try {
      await otherCache.set("survivor", "still here", { ttl: "1m" });
      await cache.set("doomed", "gone soon", { ttl: "1m" });
      await expect(cli("cache", "clear")).rejects.toMatchObject({
        exitCode: 2,
        message: expect.stringContaining("--yes"),
      });
      expect(await cache.get("doomed")).toBe("gone soon");
      expect(await cli("cache", "clear", "--yes")).toMatch(/^deleted [1-9]\d* entries\n$/);
      expect(await cache.get("doomed")).toBeUndefined();
      expect(await otherCache.get("survivor")).toBe("still here");
    } finally {
      await otherCache.clear();
      await otherCache.close();
    }
  });

  it.each([
    [["cache", "warm", "--guild", "abc"], "--guild"],
    [["cache", "warm", "--guild", "123456789012345678", "--since", "100d"], "--since"],
    [["cache", "warm", "--guild", "123456789012345678", "--limit", "0"], "--limit"],
    [["cache", "warm", "--guild", "123456789012345678", "--type", "bogus"], "--type"],
    [["cache", "invalidate"], "--tag"],
    [["cache", "invalidate", "--guild", "12"], "--guild"],
    [["cache", "invalidate", "--tag", "bad tag{x}"], "--tag"],
  ])("bad input %j is refused naming %s, before opening anything", async (args, named) => {
    const before = opens;
    const error = await cli(...args).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(CommanderError);
    // The entry point's exit status: 2 for a bad command line (commander's own errors included).
    expect(exitCodeOf(error as CommanderError)).toBe(2);
    expect((error as CommanderError).message).toContain(named);
    expect(opens).toBe(before);
  });

  it("a command failing at run time (Redis gone) closes what it opened, then reports one line with exit code 1", async () => {
    const server = await ThrowawayRedis.start();
    const downRedis = createRedisConnections(testConfig({ REDIS_URL: server.url }).redis, testLogger());
    const downCache = createServiceCache(config, downRedis, testLogger());
    let closed = 0;
    let errorOutput = "";
    try {
      await downCache.ready();
      await server.kill();
      const program = new Command()
        .exitOverride()
        .configureOutput({ writeErr: (text) => void (errorOutput += text), writeOut: () => undefined });
      registerCacheCommand(program, {
        open: async () => ({
          cache: downCache,
          ops,
          redis: downRedis.client,
          cacheKeys: cacheKeys(config),
          analytics: () => createAnalyticsService({ prisma }),
          close: async () => void (closed += 1),
        }),
        write: () => undefined,
      });
      const error = await program
        .parseAsync(["node", "spywatcher", "cache", "invalidate", "--guild", randomSnowflake()])
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      expect(error).toBeInstanceOf(CommanderError);
      expect((error as CommanderError).exitCode).toBe(1);
      expect(closed).toBe(1);
      expect(errorOutput).toMatch(/^error: .+\n$/);
      expect(errorOutput).not.toContain("Usage:");
    } finally {
      await downCache.close();
      await downRedis.close();
      await server.kill();
    }
  });

  it("the real entry point: status exits 0 on this Redis, and 1 with a clear message when Redis does not answer", async () => {
    const env = {
      ...process.env,
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keyPrefix,
      LOG_LEVEL: "warn",
    };
    const ok = await run(
      process.execPath,
      ["--import", "tsx", "backend/src/cli/spywatcher.ts", "cache", "status", "--no-keyspace"],
      { env, timeout: 30_000 },
    );
    expect(ok.stdout).toMatch(/^fleet \(/);
    const port = await freePort();
    const started = performance.now();
    const down = await run(process.execPath, ["--import", "tsx", "backend/src/cli/spywatcher.ts", "cache", "status"], {
      env: { ...env, REDIS_URL: `redis://127.0.0.1:${port}/0`, REDIS_CONNECT_TIMEOUT_MS: "300" },
      timeout: 30_000,
    }).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(down?.code).toBe(1);
    expect(down?.stderr).toContain("did not answer");
    expect(performance.now() - started).toBeLessThan(15_000);
  }, 40_000);
});
