import { randomBytes } from "node:crypto";
import { ANALYTICS_TYPES, type AnalyticsType } from "../../backend/src/analytics/analytics-catalog.ts";
import type { InvalidationStats } from "../../backend/src/invalidation/cache-invalidation-service.ts";
import { loadConfig } from "../../backend/src/config/config.ts";
import { createPrismaClient } from "../../backend/src/db/prisma-client.ts";
import { createLogger } from "../../backend/src/logging/logger.ts";
import { startService, type RunningService } from "../../backend/src/service.ts";
import { startFakeDiscord, type FakeDiscord } from "../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import { deleteByPrefix, openBenchRedis } from "../lib/bench-redis.ts";
import { BusyGuild, type BusyEventKind } from "./busy-guild-fixture.ts";
import { runDashboardLoad, type DashboardSample } from "./dashboard-load.ts";
import { DurabilityLedger, type DurableCounts } from "./durability-ledger.ts";
import { pumpEvents, type EventRates, type PumpResult } from "./event-pump.ts";
import { startStaticEndpoint, type StaticEndpoint } from "./static-endpoint.ts";

/** What one busy-guild run does. */
export interface BusyGuildOptions {
  databaseUrl: string;
  redisUrl: string;
  seconds: number;
  rates: EventRates;
  requestsPerSecond: number;
  staticRequestsPerSecond: number;
  coalesceMs: number;
  /** Extra service environment (CACHE_* and INGEST_* variables passed through from the bench's own environment). */
  serviceEnv: Record<string, string>;
}

/** Everything a run measured, for the report. */
export interface BusyGuildRun {
  guildId: string;
  runStart: number;
  samples: DashboardSample[];
  pump: PumpResult;
  /** Dispatched per kind (warm-up included) and what the ledger saw durable at the end. */
  dispatched: Record<BusyEventKind, number>;
  durable: DurableCounts;
  /** Invalidation counters over the measured run only. */
  invalidations: number;
  coalescedEvents: number;
  invalidationErrors: number;
  ingestDropped: number;
  ledger: DurabilityLedger;
  ledgerResolution: { polls: number; medianPeriodMs: number; failedPolls: number };
  /** Body sizes of the static bodies, bytes. */
  bodyBytes: Map<AnalyticsType, number>;
  keysDeleted: number;
  /** p99 of the cache's loader runs (analytics recomputations) in this service, ms; null if none ran. */
  loaderP99Ms: number | null;
}

const WARM_UP_MESSAGES = 200;
const WARM_UP_ROLE_CHANGES = 20;

/**
 * Runs the busy-guild benchmark: the real service in this process (startService), its real discord.js bot logged
 * in to a local fake Discord that serves one fresh guild, events pumped through the gateway while dashboard
 * requests read the six analytics over HTTP, and a ledger of durable rows polled from PostgreSQL. Closes
 * everything it started, also when it fails.
 */
export async function runBusyGuildBench(options: BusyGuildOptions): Promise<BusyGuildRun> {
  const logger = createLogger({ level: "warn" });
  const guild = new BusyGuild();
  const prefix = `bench-busy-${randomBytes(4).toString("hex")}`;
  const apiKey = randomBytes(24).toString("hex");
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const fake: FakeDiscord = await startFakeDiscord({ guilds: [guild.guild] });
    closers.unshift(() => fake.close());
    const config = loadConfig({
      ...options.serviceEnv,
      NODE_ENV: "production",
      HOST: "127.0.0.1",
      PORT: "0",
      LOG_LEVEL: "warn",
      DATABASE_URL: options.databaseUrl,
      REDIS_URL: options.redisUrl,
      REDIS_KEY_PREFIX: prefix,
      ADMIN_API_KEY: apiKey,
      // The per-key limit (600/min by default) would turn 50 requests/s into 429s; keep the limiter in the path.
      RATE_LIMIT_PER_MINUTE: "1000000",
      DISCORD_ENABLED: "true",
      DISCORD_TOKEN: "busy-guild-bench-token",
      DISCORD_API_URL: fake.apiUrl,
      INVALIDATION_COALESCE_MS: String(options.coalesceMs),
    });
    const service: RunningService = await startService(config, logger);
    closers.unshift(() => service.stop());
    const discord = service.discord!;

    const ledgerPrisma = createPrismaClient({ url: options.databaseUrl, poolMax: 2 });
    closers.push(() => ledgerPrisma.$disconnect());
    const ledger = new DurabilityLedger(ledgerPrisma, guild.guild.id);
    await ledger.start();
    closers.unshift(() => ledger.stop());

    // Warm-up: every talker types (so all are ghosts), every watcher is seen once, some roles and messages, so the
    // first bodies have their full size and the static limit serves the same bytes.
    const warmUp = [
      ...guild.warmUpTyping(),
      ...guild.watchers.map(() => guild.next("presence")),
      ...Array.from({ length: WARM_UP_ROLE_CHANGES }, () => guild.next("roleChange")),
      ...Array.from({ length: WARM_UP_MESSAGES }, () => guild.next("message")),
    ];
    for (const { type, data } of warmUp) fake.dispatch(type, data);
    await waitForAll(ledger, guild.dispatched(), 30_000);
    await waitUntil(() => discord.stats().invalidation.pendingGuilds === 0, 10_000, "the warm-up invalidation");

    const base = `http://127.0.0.1:${service.port}`;
    const bodies = new Map<AnalyticsType, string>();
    for (const type of ANALYTICS_TYPES) {
      const response = await fetch(`${base}/api/analytics/${type}?guildId=${guild.guild.id}&since=15m`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      if (response.status !== 200) throw new Error(`warm-up ${type}: HTTP ${response.status} ${await response.text()}`);
      bodies.set(type, await response.text());
    }
    const staticEndpoint: StaticEndpoint = await startStaticEndpoint(
      service,
      logger,
      bodies,
      `${prefix}:static-ratelimit:`,
    );
    closers.unshift(() => staticEndpoint.close());

    const before: InvalidationStats = discord.stats().invalidation;
    const runStart = performance.now();
    const [pump, samples] = await Promise.all([
      pumpEvents(fake, guild, options.rates, options.seconds * 1000),
      runDashboardLoad({
        serviceUrl: base,
        staticUrl: staticEndpoint.url,
        apiKey,
        guildId: guild.guild.id,
        requestsPerSecond: options.requestsPerSecond,
        staticRequestsPerSecond: options.staticRequestsPerSecond,
        durationMs: options.seconds * 1000,
      }),
    ]);
    const after = discord.stats();
    const loaderP99Ms = (await service.cache.getStats()).instance.loaderLatencyMs.p99Ms;

    // Let the last events land (a loss shows up as a timeout here and as a FAIL in the report).
    const dispatched = guild.dispatched();
    await waitForAll(ledger, dispatched, 30_000).catch((error: unknown) =>
      logger.error({ err: String(error) }, "not every event became durable"),
    );
    await ledger.stop();
    const keysDeleted = await cleanUp(options.redisUrl, prefix, closers);
    return {
      guildId: guild.guild.id,
      runStart,
      samples,
      pump,
      dispatched: { ...dispatched },
      durable: ledger.latest(),
      invalidations: after.invalidation.invalidations - before.invalidations,
      coalescedEvents: after.invalidation.coalescedEvents - before.coalescedEvents,
      invalidationErrors: after.invalidation.errors - before.errors,
      ingestDropped: after.ingest.dropped,
      ledger,
      ledgerResolution: { ...ledger.resolution(), failedPolls: ledger.failedPolls },
      bodyBytes: new Map([...bodies].map(([type, body]) => [type, Buffer.byteLength(body)])),
      keysDeleted,
      loaderP99Ms,
    };
  } finally {
    await closeAll(closers);
  }
}

/** Resolves once the ledger holds every dispatched event (messages, typing, presence, role changes). */
function waitForAll(ledger: DurabilityLedger, sent: Record<BusyEventKind, number>, timeoutMs: number): Promise<void> {
  return ledger.waitFor(
    (counts) =>
      counts.messages >= sent.message &&
      counts.typing >= sent.typing &&
      counts.presence >= sent.presence &&
      counts.roleChanges >= sent.roleChange,
    timeoutMs,
    `${JSON.stringify(sent)} durable rows`,
  );
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Stops everything (service first, so no request or event is in flight), then deletes the run's Redis keys. */
async function cleanUp(redisUrl: string, prefix: string, closers: (() => Promise<unknown>)[]): Promise<number> {
  await closeAll(closers);
  const redis = openBenchRedis(redisUrl);
  try {
    return await deleteByPrefix(redis, `${prefix}:`);
  } finally {
    redis.disconnect();
  }
}

/** Runs and forgets each closer in order; one failing does not stop the others. */
async function closeAll(closers: (() => Promise<unknown>)[]): Promise<void> {
  for (const close of closers.splice(0)) await close().catch(() => undefined);
}
