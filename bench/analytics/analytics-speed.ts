/**
 * Analytics speed on a guild with 1,000,000 message events, 10,000 users and 50 channels:
 *   1. each analytic's uncached time (SQL through Prisma, since=7d; target < 200 ms), median of 5 after one warm-up;
 *   2. cached HTTP throughput of an analytics route (X-Cache: HIT) against a static JSON endpoint of the same body
 *      on the same server, behind the same API-key middleware, measured by autocannon in a worker thread
 *      (target >= 0.8x), in interleaved rounds.
 * Run: npx tsx bench/analytics/analytics-speed.ts   (env: BENCH_DATABASE_URL, BENCH_REDIS_URL, BENCH_ROUND_S,
 * BENCH_CONNECTIONS; --regenerate drops and refills the bench guild). Results go to docs/benchmarks.md by hand.
 */
import type { AddressInfo } from "node:net";
import autocannon from "autocannon";
import { Router } from "express";
import pg from "pg";
import { ANALYTICS_TYPES } from "../../backend/src/analytics/analytics-catalog.ts";
import { createAnalyticsService } from "../../backend/src/analytics/analytics-service.ts";
import { ApiKeyService } from "../../backend/src/auth/api-key-service.ts";
import { createCache } from "../../backend/src/cache/index.ts";
import { runMigrations } from "../../backend/src/db/migrator.ts";
import { createPrismaClient } from "../../backend/src/db/prisma-client.ts";
import { analyticsRouter } from "../../backend/src/http/analytics-routes.ts";
import { createApp } from "../../backend/src/http/app.ts";
import { requireApiKey } from "../../backend/src/http/middleware/require-api-key.ts";
import { closeServer, listen } from "../../backend/src/lifecycle/http-server.ts";
import { createLogger } from "../../backend/src/logging/logger.ts";
import { createRedisConnections, waitForRedisReady } from "../../backend/src/redis/redis-connections.ts";
import { BENCH_REDIS_URL, benchPrefix } from "../lib/bench-redis.ts";
import { median } from "../lib/measure.ts";
import { formatMs, formatRate, formatRatio, formatTable } from "../lib/table.ts";
import { DEFAULT_GUILD_SIZE, generateGuild } from "./generate-guild.ts";

const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/spywatcher_bench_analytics";
const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const GUILD = "900000000000000001";
// A second, smaller guild shares the tables so the queries must use the guild index, as in production.
const NOISE_GUILD = "900000000000000002";

async function ensureDataset(): Promise<void> {
  await runMigrations({ databaseUrl: DATABASE_URL });
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const regenerate = process.argv.includes("--regenerate");
    // The role changes are generated last: their count says the previous generation finished.
    const { rows } = await client.query<{ messages: number; roles: number }>(
      `SELECT (SELECT count(*) FROM message_events WHERE guild_id = $1)::int AS messages,
              (SELECT count(*) FROM role_change_events WHERE guild_id = $1)::int AS roles`,
      [GUILD],
    );
    const complete =
      rows[0]?.messages === DEFAULT_GUILD_SIZE.messages && rows[0]?.roles === DEFAULT_GUILD_SIZE.roleChanges;
    if (!regenerate && complete) return;
    console.log("generating the bench guilds (about a minute)...");
    for (const table of ["message_events", "typing_events", "presence_events", "role_change_events"]) {
      await client.query(`DELETE FROM ${table} WHERE guild_id = ANY($1)`, [[GUILD, NOISE_GUILD]]);
    }
    const now = new Date();
    await generateGuild(client, GUILD, DEFAULT_GUILD_SIZE, now);
    await generateGuild(client, NOISE_GUILD, { ...DEFAULT_GUILD_SIZE, messages: 200_000, typing: 50_000 }, now);
    await client.query("VACUUM ANALYZE");
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  await ensureDataset();
  const logger = createLogger({ level: "warn" });
  const prisma = createPrismaClient({ url: DATABASE_URL, poolMax: 10 });
  const analytics = createAnalyticsService({ prisma, rollups: true });
  const rawAnalytics = createAnalyticsService({ prisma, rollups: false });

  console.log(
    `\n## Uncached analytics (guild of ${DEFAULT_GUILD_SIZE.messages.toLocaleString("en-US")} messages, since=7d)\n`,
  );
  const uncached: string[][] = [];
  let staticBody: unknown;
  const timeIt = async (service: typeof analytics, type: (typeof ANALYTICS_TYPES)[number]) => {
    const until = new Date();
    const query = {
      guildId: GUILD,
      since: new Date(Math.floor((until.getTime() - 7 * 86_400_000) / 60_000) * 60_000),
      until,
      limit: 100,
    };
    const result = await service.compute(type, query); // warm-up (also the first, cold-cache run)
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await service.compute(type, query);
      times.push(performance.now() - started);
    }
    return { result, times };
  };
  for (const type of ANALYTICS_TYPES) {
    const fast = await timeIt(analytics, type);
    const slow = await timeIt(rawAnalytics, type);
    if (type === "ghosts") staticBody = fast.result;
    const med = median(fast.times);
    uncached.push([
      type,
      formatMs(med),
      formatMs(Math.min(...fast.times)),
      formatMs(Math.max(...fast.times)),
      med < 200 ? "yes" : "NO",
      formatMs(median(slow.times)),
      String(fast.result.total),
    ]);
  }
  console.log(
    formatTable(
      ["analytic", "median of 5", "min", "max", "< 200 ms", "raw events only (median)", "rows before limit"],
      uncached,
    ),
  );
  console.log(
    "\n(lurkers and roles always read raw events; the others read rollups plus the raw events of partial days/hours.)",
  );

  const redis = createRedisConnections({ url: BENCH_REDIS_URL }, logger);
  await waitForRedisReady(redis.client, 5_000);
  // BENCH_L1=0 measures Redis-only hits; by default the in-process L1 tier is on, as the service should run it.
  const l1 = process.env.BENCH_L1 !== "0";
  const cache = createCache({
    redis: redis.client,
    subscriber: redis.subscriber,
    prefix: benchPrefix("analytics"),
    logger,
    l1: l1 ? {} : false,
  });
  const keys = new ApiKeyService({ prisma, logger });
  const { secret } = await keys.createKey({ name: "bench analytics-speed", admin: true });
  const staticRouter = Router();
  staticRouter.get("/static", requireApiKey(keys), (_req, res) => {
    res.set("Cache-Control", "private, no-cache").json(staticBody);
  });
  const app = createApp({
    logger,
    readinessChecks: [],
    routers: [
      { path: "/api", router: staticRouter },
      { path: "/api", router: analyticsRouter({ cache, analytics, auth: keys }) },
    ],
  });
  const server = await listen(app, 0, "127.0.0.1");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cachedPath = `/api/analytics/ghosts?guildId=${GUILD}&since=7d`;
  const headers = { authorization: `Bearer ${secret}` };
  const first = await fetch(`${base}${cachedPath}`, { headers });
  const cachedBytes = (await first.text()).length;
  const staticBytes = (await (await fetch(`${base}/api/static`, { headers })).text()).length;

  const rate = async (path: string): Promise<number> => {
    const result = await autocannon({
      url: `${base}${path}`,
      connections: CONNECTIONS,
      duration: ROUND_S,
      headers,
      workers: 1,
    });
    if (result.non2xx > 0 || result.errors > 0)
      throw new Error(`${path}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    return result.requests.average;
  };
  const rounds: { staticRate: number; cachedRate: number }[] = [];
  for (let round = 0; round < 3; round++)
    rounds.push({ staticRate: await rate("/api/static"), cachedRate: await rate(cachedPath) });
  const hit = await fetch(`${base}${cachedPath}`, { headers });
  const staticRate = median(rounds.map((r) => r.staticRate));
  const cachedRate = median(rounds.map((r) => r.cachedRate));
  console.log(
    `\n## Cached HTTP throughput (L1 ${l1 ? "on" : "off"}, ${CONNECTIONS} connections, 3 interleaved rounds of ${ROUND_S} s)\n`,
  );
  console.log(
    formatTable(
      ["endpoint", "body bytes", "median req/s", "rounds", "ratio to static", ">= 0.8x"],
      [
        [
          "static JSON (limit)",
          String(staticBytes),
          formatRate(staticRate),
          rounds.map((r) => formatRate(r.staticRate)).join(" "),
          "1.00x",
          "",
        ],
        [
          `ghosts, X-Cache ${hit.headers.get("x-cache")}`,
          String(cachedBytes),
          formatRate(cachedRate),
          rounds.map((r) => formatRate(r.cachedRate)).join(" "),
          formatRatio(cachedRate / staticRate),
          cachedRate / staticRate >= 0.8 ? "yes" : "NO",
        ],
      ],
    ),
  );

  await keys.revokeKey((await keys.listKeys()).find((key) => key.name === "bench analytics-speed")!.id);
  await closeServer(server, 2_000);
  await cache.clear();
  await cache.close();
  await redis.close();
  await keys.whenIdle();
  await prisma.$disconnect();
}

await main();
