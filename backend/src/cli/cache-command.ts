import { SingleBar } from "cli-progress";
import { Command, Option } from "commander";
import { pino } from "pino";
import { ANALYTICS_TYPES, guildAnalyticsTag, type AnalyticsType } from "../analytics/analytics-catalog.ts";
import { createAnalyticsService, type AnalyticsService } from "../analytics/analytics-service.ts";
import { DEFAULT_LIMIT, MAX_LIMIT } from "../analytics/analytics-types.ts";
import { parseSince } from "../analytics/analytics-window.ts";
import { analyticsEntry } from "../analytics/cached-analytics.ts";
import type { SpyCache } from "../cache/index.ts";
import type { AppConfig } from "../config/config.ts";
import { createPrismaClient } from "../db/prisma-client.ts";
import { AppError } from "../errors.ts";
import { REDACTED_PATHS } from "../logging/logger.ts";
import { createRedisConnections, waitForRedisReady } from "../redis/redis-connections.ts";
import { validatePart } from "../cache/key-builder.ts";
import { createServiceCache } from "../service-cache.ts";
import { runWithOpened } from "./run-with-opened.ts";
import { describeCacheStats } from "./cache-status-text.ts";

/** The cache opened for one CLI command (and, for `warm`, the analytics service), and how to close them. */
export interface OpenedCache {
  cache: SpyCache;
  /** Opens the analytics service on PostgreSQL (only `warm` needs it). */
  analytics(): AnalyticsService;
  close(): Promise<void>;
}

/** What the `cache` commands need. */
export interface CacheCommandDependencies {
  /** Opens the service's cache (called only when a command runs). */
  open: () => Promise<OpenedCache>;
  /** Where results are written (default stdout). */
  write?: (text: string) => void;
  /** Where the progress bar is drawn (default stderr; drawn only when it is a terminal). */
  progressStream?: NodeJS.WritableStream;
}

const SNOWFLAKE = /^\d{17,20}$/;

/**
 * Opens the service's cache (same prefix, version and options as the service, so it reads and writes the same
 * entries and fleet statistics) on the configured Redis, and PostgreSQL only if asked. Waits for Redis (at most
 * REDIS_CONNECT_TIMEOUT_MS) and the cache's bus (at most 5 s more); logs (warnings only) go to stderr.
 */
export async function openServiceCache(config: AppConfig): Promise<OpenedCache> {
  const logger = pino({ level: "warn", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, pino.destination(2));
  const redis = createRedisConnections({ ...config.redis, connectionName: "spywatcher-cli" }, logger);
  const unavailable = (error: unknown) =>
    new AppError("E_CACHE_UNAVAILABLE", `Redis at the configured REDIS_URL did not answer: ${(error as Error).message}`, 503);
  try {
    // The cache is built only once Redis answers, so a down Redis is not recorded as cache errors in the fleet stats.
    await waitForRedisReady(redis.client, config.redis.connectTimeoutMs);
  } catch (error) {
    await redis.close();
    throw unavailable(error);
  }
  const cache = createServiceCache(config, redis, logger);
  let prisma: ReturnType<typeof createPrismaClient> | undefined;
  const close = async () => {
    await cache.close();
    await redis.close();
    await prisma?.$disconnect();
  };
  try {
    await cache.ready();
  } catch (error) {
    await close();
    throw unavailable(error);
  }
  return {
    cache,
    analytics: () => {
      prisma ??= createPrismaClient({ url: config.database.url, poolMax: 2 });
      return createAnalyticsService({ prisma });
    },
    close,
  };
}

/**
 * Registers `cache status`, `cache warm`, `cache cleanup`, `cache invalidate` and `cache clear` on a commander
 * program: the operator's side of the cache (docs/cli.md).
 */
export function registerCacheCommand(program: Command, deps: CacheCommandDependencies): Command {
  const write = deps.write ?? ((text: string) => void process.stdout.write(text));
  const cache = program.command("cache").description("inspect, warm, clean up and invalidate the analytics cache");

  const run = (command: Command, work: (opened: OpenedCache) => Promise<void>) => runWithOpened(command, deps.open, work);

  cache
    .command("status")
    .description("this application's cache statistics for the whole fleet, its keys and memory")
    .option("--no-keyspace", "skip counting keys (a SCAN of the prefix on every master)")
    .option("--json", "print JSON")
    .action(async (options: { keyspace: boolean; json?: boolean }, command: Command) => {
      await run(command, async ({ cache: spy }) => {
        const stats = await spy.getStats({ includeKeyspace: options.keyspace });
        write(options.json ? `${JSON.stringify(stats)}\n` : describeCacheStats(stats));
      });
    });

  cache
    .command("warm")
    .description("compute analytics into the cache, so the first dashboard requests hit")
    .requiredOption("--guild <id...>", "guild ids to warm (repeatable)")
    .addOption(new Option("--type <type...>", "analytics to warm (default: all six)").choices([...ANALYTICS_TYPES]))
    .option("--since <window>", 'window start, ISO time or relative ("15m", "24h", "7d")', "7d")
    .option("--limit <n>", `items per analytic (1-${MAX_LIMIT})`, String(DEFAULT_LIMIT))
    .option("--json", "print JSON")
    .action(async (options: { guild: string[]; type?: AnalyticsType[]; since: string; limit: string; json?: boolean }, command: Command) => {
      const bad = options.guild.find((id) => !SNOWFLAKE.test(id));
      if (bad !== undefined) command.error(`error: --guild "${bad}" must be a Discord snowflake (17-20 digits)`, { exitCode: 1 });
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) command.error(`error: --limit must be an integer from 1 to ${MAX_LIMIT}`, { exitCode: 1 });
      const since = parseSince(options.since, new Date());
      if (!since.ok) command.error(`error: --since ${since.message}`, { exitCode: 1 });
      const types = options.type ?? [...ANALYTICS_TYPES];
      await run(command, async (opened) => {
        const report = await warm(opened, { guilds: [...new Set(options.guild)], types, since: since.ok ? since.since : new Date(), limit }, deps.progressStream);
        if (options.json) write(`${JSON.stringify(report)}\n`);
        else {
          write(`warmed ${report.total} analytics: ${report.computed} computed, ${report.alreadyCached} already cached, ${report.failed.length} failed\n`);
          for (const failure of report.failed) write(`failed: ${failure.type} of guild ${failure.guildId}: ${failure.error}\n`);
        }
        if (report.failed.length > 0) process.exitCode = 1;
      });
    });

  cache
    .command("cleanup")
    .description("free the memory of entries that an invalidation made unreachable (they would expire by TTL)")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      await run(command, async ({ cache: spy }) => {
        const result = await spy.sweepInvalidated();
        if (result.failed > 0) process.exitCode = 1;
        write(
          options.json
            ? `${JSON.stringify(result)}\n`
            : `scanned ${result.scanned} entries, deleted ${result.deleted} invalidated ones (${result.bytes} bytes freed)` +
                `${result.failed > 0 ? `; ${result.failed} deletes failed (run it again)` : ""}\n`,
        );
      });
    });

  cache
    .command("invalidate")
    .description("invalidate cached analytics by tag, or every analytic (or some) of a guild")
    .option("--tag <tag...>", "tags to invalidate (repeatable)")
    .option("--guild <id>", "a guild whose analytics to invalidate")
    .addOption(new Option("--type <type...>", "with --guild: only these analytics").choices([...ANALYTICS_TYPES]))
    .option("--soft", "serve the old value for a moment while one recompute runs (default: hard)")
    .action(async (options: { tag?: string[]; guild?: string; type?: AnalyticsType[]; soft?: boolean }, command: Command) => {
      if (!options.tag?.length === !options.guild) command.error("error: give either --tag <tag...> or --guild <id>", { exitCode: 1 });
      if (options.guild !== undefined && !SNOWFLAKE.test(options.guild)) command.error(`error: --guild "${options.guild}" must be a Discord snowflake (17-20 digits)`, { exitCode: 1 });
      for (const tag of options.tag ?? []) {
        try {
          validatePart(tag, "tag");
        } catch (error) {
          command.error(`error: --tag ${(error as Error).message}`, { exitCode: 1 });
        }
      }
      const tags = options.tag ?? (options.type ?? [...ANALYTICS_TYPES]).map((type) => guildAnalyticsTag(type, options.guild!));
      await run(command, async ({ cache: spy }) => {
        const result = await spy.invalidateByTags(tags, { mode: options.soft ? "soft" : "hard" });
        write(`invalidated ${result.tags.length} tag(s), about ${result.entries} entries: ${result.tags.join(", ")}\n`);
      });
    });

  cache
    .command("clear")
    .description("delete every entry of this application's cache (its prefix only; never FLUSHDB)")
    .option("--yes", "confirm")
    .action(async (options: { yes?: boolean }, command: Command) => {
      if (!options.yes) command.error("error: clear deletes every cached entry of this application: add --yes to confirm", { exitCode: 1 });
      await run(command, async ({ cache: spy }) => {
        write(`deleted ${await spy.clear()} entries\n`);
      });
    });
  return cache;
}

/** What `cache warm` did. */
export interface WarmReport {
  total: number;
  computed: number;
  alreadyCached: number;
  failed: { guildId: string; type: AnalyticsType; error: string }[];
}

/** Reads each (guild, analytic) through the cache, two at a time (PostgreSQL does the work), with a progress bar. */
async function warm(
  opened: OpenedCache,
  plan: { guilds: string[]; types: AnalyticsType[]; since: Date; limit: number },
  progressStream: NodeJS.WritableStream = process.stderr,
): Promise<WarmReport> {
  const jobs = plan.guilds.flatMap((guildId) => plan.types.map((type) => ({ guildId, type })));
  const report: WarmReport = { total: jobs.length, computed: 0, alreadyCached: 0, failed: [] };
  const analytics = opened.analytics();
  const bar = new SingleBar({ stream: progressStream, format: "warming {bar} {value}/{total} analytics | {guild} {type}", hideCursor: true });
  bar.start(jobs.length, 0, { guild: "", type: "" });
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      try {
        const entry = analyticsEntry({ analytics }, job.type, { guildId: job.guildId, since: plan.since, limit: plan.limit });
        const result = await opened.cache.rememberWithMeta(entry.key, entry.ttl, entry.loader, entry.options);
        if (result.status === "hit") report.alreadyCached += 1;
        else if (result.status === "miss") report.computed += 1;
        else if (result.status === "bypass") throw new Error("computed, but Redis did not take it (the cache is bypassing Redis)");
        else if (result.staleBecauseOfError) throw new Error("PostgreSQL failed; only an older value is cached");
        else {
          // Stale within grace: the background refresh it started would be cut short when the CLI exits; refresh now.
          const refreshed = await opened.cache.warm([entry], { force: true });
          if (refreshed.failed.length > 0) throw new Error(refreshed.failed[0]!.error);
          report.computed += 1;
        }
      } catch (error) {
        report.failed.push({ ...job, error: describeError(error) });
      }
      bar.increment(1, { guild: job.guildId, type: job.type });
    }
  };
  try {
    await Promise.all([worker(), worker()]);
  } finally {
    bar.stop();
  }
  return report;
}

/** An error's message followed by its causes' (the analytics error wraps PostgreSQL's, which says what is wrong). */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error; current !== undefined && parts.length < 3; current = (current as { cause?: unknown }).cause) {
    parts.push(current instanceof Error ? current.message : String(current));
    if (!(current instanceof Error)) break;
  }
  return parts.join(": ");
}
