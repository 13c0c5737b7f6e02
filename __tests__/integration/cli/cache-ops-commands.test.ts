import { execFile } from "node:child_process";
import { PassThrough } from "node:stream";
import { promisify } from "node:util";
import { Command, CommanderError } from "commander";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { guildTag } from "../../../backend/src/analytics/analytics-catalog.ts";
import { openServiceCache, registerCacheCommand, type OpenedCache } from "../../../backend/src/cli/cache-command.ts";
import { exitCodeOf } from "../../../backend/src/cli/cli-usage.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { startService, type RunningService } from "../../../backend/src/service.ts";
import { randomSnowflake, TEST_DATABASE_URL, TEST_REDIS_URL, testConfig, testLogger } from "../../support/test-env.ts";

const run = promisify(execFile);

describe("cache CLI operations commands (warm options, status, cleanup, invalidations) on real Redis and PostgreSQL", () => {
  const config = testConfig();
  const SINCE_A = new Date(Date.now() - 7 * 86_400_000).toISOString();
  const SINCE_B = new Date(Date.now() - 86_400_000).toISOString();
  let opened: OpenedCache;
  let prisma: PrismaClient;
  let raw: Redis;

  beforeAll(async () => {
    opened = await openServiceCache(config);
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    raw = new Redis(TEST_REDIS_URL);
  });
  afterAll(async () => {
    raw?.disconnect();
    await prisma?.$disconnect();
    await opened?.close();
  });

  async function cli(
    args: string[],
    options: { confirm?: boolean } = {},
  ): Promise<{ output: string; exitCode: number | undefined }> {
    let output = "";
    const program = new Command()
      .exitOverride()
      .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerCacheCommand(program, {
      open: async () => ({ ...opened, close: async () => undefined }),
      write: (text) => void (output += text),
      progressStream: new PassThrough(),
      confirm: async () => options.confirm ?? false,
    });
    const before = process.exitCode;
    try {
      await program.parseAsync(["node", "spywatcher", ...args]);
      return { output, exitCode: process.exitCode === before ? undefined : (process.exitCode as number) };
    } finally {
      process.exitCode = before;
    }
  }

  it("warm: repeatable --since, --parallel n, and --force recomputing fresh entries", async () => {
    const guildId = randomSnowflake();
    const first = JSON.parse(
      (
        await cli([
          "cache",
          "warm",
          "--guild",
          guildId,
          "--type",
          "ghosts",
          "--type",
          "roles",
          "--since",
          SINCE_A,
          "--since",
          SINCE_B,
          "--parallel",
          "3",
          "--json",
        ])
      ).output,
    );
    expect(first).toEqual({ total: 4, computed: 4, alreadyCached: 0, failed: [] });
    const again = JSON.parse(
      (await cli(["cache", "warm", "--guild", guildId, "--type", "ghosts", "--since", SINCE_A, "--parallel", "--json"]))
        .output,
    );
    expect(again).toMatchObject({ total: 1, alreadyCached: 1 });
    const forced = JSON.parse(
      (await cli(["cache", "warm", "--guild", guildId, "--type", "ghosts", "--since", SINCE_A, "--force", "--json"]))
        .output,
    );
    expect(forced).toMatchObject({ total: 1, computed: 1, alreadyCached: 0 });
    const text = await cli(["cache", "warm", "--guild", guildId, "--type", "ghosts", "--since", SINCE_A]);
    expect(text.output).toBe("warmed 1 analytics: 0 computed, 1 already cached, 0 failed\n");
  });

  it("status --detailed / --type per analytic, and --json with the documented schema and health score", async () => {
    const guildId = randomSnowflake();
    await cli(["cache", "warm", "--guild", guildId, "--type", "heatmap", "--since", SINCE_A]);
    const text = (await cli(["cache", "status", "--detailed", "--no-keyspace"])).output;
    expect(text).toMatch(/^health score: \d+\/100 \((healthy|degraded|unhealthy);/m);
    expect(text).toMatch(/^per analytic \(lookups and hit rate: fleet, since the stats keys were created\):$/m);
    expect(text).toMatch(
      /^ {2}heatmap +\d+ keys, TTL left [\d.]+-[\d.]+ s \(avg [\d.]+\), about \d+ bytes; \d+ lookups, hit rate /m,
    );
    const json = JSON.parse((await cli(["cache", "status", "--type", "heatmap", "--json", "--no-keyspace"])).output);
    expect(json).toMatchObject({
      schema: "spywatcher.cache-status/1",
      generatedAt: expect.any(String),
      instance: expect.any(Object),
      breaker: expect.any(Object),
      keyspace: null,
    });
    expect(json.healthScore).toMatchObject({
      score: expect.any(Number),
      components: expect.any(Object),
      basis: expect.stringMatching(/fleet-window|instance/),
    });
    expect(json.types).toHaveLength(1);
    expect(json.types[0]).toMatchObject({ type: "heatmap", keys: expect.any(Number), sampled: expect.any(Number) });
    expect(json.types[0].keys).toBeGreaterThanOrEqual(1);
    expect(json.types[0].ttlSecondsLeft.max).toBeLessThanOrEqual(15 * 60 + 300);
  });

  it("status --alerts exits 0 with nothing firing in this prefix's history", async () => {
    const result = await cli(["cache", "status", "--alerts"]);
    expect(result.output).toMatch(/^firing: none\nrecent: none\n$/);
    expect(result.exitCode).toBeUndefined();
  });

  it("cleanup --dry-run reports invalidated entries and keeps them; --expired-only removes them and logs it; --locks removes only orphaned locks", async () => {
    const guildId = randomSnowflake();
    await opened.cache.set(`ops-cli:${guildId}`, 1, { ttl: "5m", tags: [guildTag(guildId)] });
    await opened.cache.invalidateByTags([guildTag(guildId)]);
    const fullKey = opened.cacheKeys.entry(`ops-cli:${guildId}`);
    const dry = JSON.parse((await cli(["cache", "cleanup", "--dry-run", "--json"])).output);
    expect(dry).toMatchObject({ kind: "expired", dryRun: true, deleted: 0 });
    expect(dry.sample).toContain(fullKey);
    expect(await raw.exists(fullKey)).toBe(1);
    const text = (await cli(["cache", "cleanup", "--expired-only"])).output;
    expect(text).toMatch(
      /^entries: scanned \d+, removed [1-9]\d* \([1-9]\d* invalidated, \d+ past grace; \d+ bytes\)\n$/,
    );
    expect(await raw.exists(fullKey)).toBe(0);
    expect((await opened.ops.invalidationLog.recent({ limit: 1 }))[0]).toMatchObject({
      source: "cli",
      action: "cleanup",
    });

    const lockBase = `${opened.cacheKeys.lockPrefix()}:lock:`;
    await raw.set(`${lockBase}orphan-${guildId}`, "token"); // no expiry: nothing would remove it
    await raw.set(`${lockBase}held-${guildId}`, "token", "PX", 30_000);
    const locksDry = JSON.parse((await cli(["cache", "cleanup", "--locks", "--dry-run", "--json"])).output);
    expect(locksDry).toMatchObject({ kind: "locks", dryRun: true, orphanedLocks: 1, deleted: 0 });
    const locks = (await cli(["cache", "cleanup", "--locks"])).output;
    expect(locks).toBe(`locks: scanned ${locksDry.scanned}, removed 1 orphaned\n`);
    expect(await raw.exists(`${lockBase}orphan-${guildId}`)).toBe(0);
    expect(await raw.exists(`${lockBase}held-${guildId}`)).toBe(1);
    await raw.del(`${lockBase}held-${guildId}`);
  });

  it("cleanup --force asks first (refused: nothing deleted, exit 2), deletes with --yes or a yes, and --dry-run counts", async () => {
    await opened.cache.set("ops-cli:force", 1, { ttl: "5m" });
    const refused = await cli(["cache", "cleanup", "--force"]).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(CommanderError);
    expect(exitCodeOf(refused as CommanderError)).toBe(2);
    expect(await opened.cache.get("ops-cli:force")).toBe(1);
    const dry = JSON.parse((await cli(["cache", "cleanup", "--force", "--dry-run", "--json"])).output);
    expect(dry.wouldDelete).toBeGreaterThanOrEqual(1);
    expect((await cli(["cache", "cleanup", "--force"], { confirm: true })).output).toMatch(
      /^deleted [1-9]\d* entries\n$/,
    );
    expect(await opened.cache.get("ops-cli:force")).toBeUndefined();
    await opened.cache.set("ops-cli:force", 1, { ttl: "5m" });
    expect((await cli(["cache", "cleanup", "--force", "--yes"])).output).toMatch(/^deleted [1-9]\d* entries\n$/);
  });

  it("invalidate is logged; invalidations lists it, filtered by guild", async () => {
    const guildId = randomSnowflake();
    await cli(["cache", "invalidate", "--guild", guildId, "--type", "ghosts"]);
    const json = JSON.parse((await cli(["cache", "invalidations", "--guild", guildId, "--json"])).output);
    expect(json.entries).toHaveLength(1);
    expect(json.entries[0]).toMatchObject({
      source: "cli",
      action: "guild",
      guildId,
      mode: "hard",
      tags: [`analytics:ghosts:guild:${guildId}`],
    });
    const text = (await cli(["cache", "invalidations", "--limit", "1"])).output;
    expect(text).toMatch(
      / cli +guild +hard +\d+ entries [\d.]+ ms guild \d+ analytics:ghosts:guild:\d+ by cli: cache invalidate ok\n$/,
    );
  });

  it.each([
    [["cache", "warm", "--guild", "123456789012345678", "--parallel", "0"], "--parallel"],
    [["cache", "cleanup", "--yes"], "--yes"],
    [["cache", "cleanup", "--force", "--locks"], "--force"],
    [["cache", "invalidations", "--limit", "x"], "--limit"],
    [["cache", "status", "--type", "nope"], "--type"],
  ])("bad value %j: one line naming %s, exit 2", async (args, named) => {
    const error = await cli(args).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(CommanderError);
    expect(exitCodeOf(error as CommanderError)).toBe(2);
    expect((error as CommanderError).message).toContain(named);
    expect((error as CommanderError).message).not.toContain("\n");
  });

  it("the real entry point (and the spywatcher bin): an unknown option is one line naming it and exit 2", async () => {
    const env = { ...process.env, DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: "warn" };
    const failed = await run(
      process.execPath,
      ["backend/src/cli/spywatcher-bin.mjs", "cache", "status", "--detialed"],
      { env, timeout: 30_000 },
    ).then(
      () => undefined,
      (error: { code?: number; stderr?: string; stdout?: string }) => error,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toBe("error: unknown option '--detialed'\n");
    expect(failed?.stdout).toBe("");
  }, 40_000);
});

describe("the service's own scheduled cleanup", () => {
  let service: RunningService;
  const config = testConfig({ CLEANUP_INTERVAL_MS: "300", CLEANUP_MAX_KEYS_PER_RUN: "1000" });

  beforeAll(async () => {
    service = await startService(config, testLogger());
    await service.cache.ready();
  });
  afterAll(() => service?.stop());

  it("removes invalidated entries by itself on its interval and records its run", async () => {
    const guildId = randomSnowflake();
    await service.cache.set(`sched:${guildId}`, 1, { ttl: "5m", tags: [guildTag(guildId)] });
    await service.cache.invalidateByTags([guildTag(guildId)]);
    const raw = new Redis(TEST_REDIS_URL);
    try {
      const fullKey = `${config.redis.keyPrefix}:cache:${config.cache.version}:sched:${guildId}`;
      await vi.waitFor(async () => expect(await raw.exists(fullKey)).toBe(0), { timeout: 10_000, interval: 100 });
      // The run deletes first, then records itself: wait for the record of the run that deleted the entry (reading it
      // right after the delete raced with that write once in CI).
      await vi.waitFor(
        async () => {
          const last = JSON.parse((await raw.get(service.ops.keys.cleanupLast())) ?? "null");
          expect(last?.report).toMatchObject({ kind: "expired", dryRun: false });
          const logged = await service.ops.invalidationLog.recent({ limit: 5 });
          expect(logged.some((entry) => entry.source === "scheduled" && entry.action === "cleanup")).toBe(true);
        },
        { timeout: 10_000, interval: 100 },
      );
    } finally {
      raw.disconnect();
    }
  });
});

describe("cache status: per-analytic hit rate of the fleet, driven through the running service's HTTP API", () => {
  const ADMIN_KEY = "per-analytic-hit-rate-admin-key-0123456789";
  // Both share the prefix: the CLI reads the fleet stats the service flushes (every 200 ms here).
  const config = testConfig({ ADMIN_API_KEY: ADMIN_KEY, CACHE_STATS_FLUSH_INTERVAL_MS: "200" });
  let service: RunningService;
  let opened: OpenedCache;

  beforeAll(async () => {
    service = await startService(config, testLogger());
    await service.cache.ready();
    opened = await openServiceCache(config);
  });
  afterAll(async () => {
    await opened?.close();
    await service?.stop();
  });

  async function status(args: string[]): Promise<string> {
    let output = "";
    const program = new Command()
      .exitOverride()
      .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerCacheCommand(program, {
      open: async () => ({ ...opened, close: async () => undefined }),
      write: (text) => void (output += text),
      progressStream: new PassThrough(),
      confirm: async () => false,
    });
    await program.parseAsync(["node", "spywatcher", "cache", "status", ...args]);
    return output;
  }

  it("counts hits and misses per analytic type (3 of 4 ghosts lookups hit, 1 of 2 heatmap) in --detailed, --type and --json", async () => {
    const guildId = randomSnowflake();
    const since = new Date(Date.now() - 86_400_000).toISOString();
    const get = async (type: string) => {
      const response = await request(service.server)
        .get(`/api/analytics/${type}?guildId=${guildId}&since=${since}`)
        .set("authorization", `Bearer ${ADMIN_KEY}`);
      expect(response.status).toBe(200);
      return response.headers["x-cache"];
    };
    const seen = [
      await get("ghosts"),
      await get("ghosts"),
      await get("ghosts"),
      await get("ghosts"),
      await get("heatmap"),
      await get("heatmap"),
    ];
    expect(seen).toEqual(["MISS", "HIT", "HIT", "HIT", "MISS", "HIT"]);

    // The service flushes its counters on its interval; wait for them rather than sleeping.
    await vi.waitFor(
      async () => {
        const json = JSON.parse(await status(["--type", "ghosts", "--type", "heatmap", "--json", "--no-keyspace"]));
        expect(json.fleet.byLabel).toMatchObject({
          ghosts: { hits: 3, misses: 1, stale: 0, bypasses: 0, lookups: 4, hitRatePercent: 75 },
          heatmap: { hits: 1, misses: 1, lookups: 2, hitRatePercent: 50 },
        });
        expect(json.types.map((type: { type: string; lookups: unknown }) => [type.type, type.lookups])).toEqual([
          ["ghosts", { hits: 3, stale: 0, misses: 1, bypasses: 0, lookups: 4, hitRatePercent: 75 }],
          ["heatmap", { hits: 1, stale: 0, misses: 1, bypasses: 0, lookups: 2, hitRatePercent: 50 }],
        ]);
      },
      { timeout: 10_000, interval: 100 },
    );
    const text = await status(["--detailed", "--no-keyspace"]);
    expect(text).toMatch(
      /^ {2}ghosts +1 keys, TTL left [\d.]+-[\d.]+ s \(avg [\d.]+\), about \d+ bytes; 4 lookups, hit rate 75% \(hits 3, stale 0, misses 1, bypasses 0\)$/m,
    );
    expect(text).toMatch(
      /^ {2}heatmap +1 keys, .*; 2 lookups, hit rate 50% \(hits 1, stale 0, misses 1, bypasses 0\)$/m,
    );
    expect(text).toMatch(/^ {2}roles +0 keys, TTL left n\/a, about 0 bytes; 0 lookups, hit rate n\/a /m);
    const typed = await status(["--type", "heatmap", "--no-keyspace"]);
    expect(typed).toMatch(/^ {2}heatmap .*hit rate 50%/m);
    expect(typed).not.toMatch(/ghosts/);
  }, 30_000);
});
