import type { DiscordSideStats } from "../composition/discord-side-stats.ts";
import type { SpyCache, SpyCacheStats } from "../cache/index.ts";
import type { CircuitState } from "../cache/transport/circuit-breaker.ts";
import { scanTargets } from "../cache/stats/scan-every-master.ts";
import { runReadinessChecks, type ReadinessCheck } from "../health/readiness-checks.ts";
import { withTimeout } from "../lib/with-timeout.ts";
import type { RealtimeStats } from "../realtime/realtime-server.ts";
import type { RedisClient } from "../redis/redis-connections.ts";

/** One Redis master's INFO readings: memory (`maxBytes` 0: no maxmemory) and its own `evicted_keys` counter. */
export interface RedisNodeInfo {
  node: string;
  usedBytes: number;
  maxBytes: number;
  evictedKeys: number;
}

/**
 * One reading of everything the alert rules look at, taken at `at` (epoch ms). Counters are totals since start;
 * the rules compare two samples. A part is null when its source is absent (no Discord side) or did not answer.
 */
export interface AlertSample {
  at: number;
  /** This instance's cache lookups, hits (hits + stale) and Redis errors; null when they could not be read in time. */
  cache: { lookups: number; hits: number; errors?: number } | null;
  /** Fleet p99 of the cache's Redis calls over the last window, in ms; null when unknown (no calls, Redis down, no source). */
  cacheP99Ms?: number | null;
  /** This instance's stampede lock acquisitions and failures (totals); null without a counting lock. */
  locks?: { attempts: number; failures: number } | null;
  /** The cache's circuit breaker; null when it could not be read (only without an in-process breaker source). */
  breakerState: CircuitState | null;
  /** INFO of every master (memory, evictions), or why it is unknown. */
  redis: { nodes: RedisNodeInfo[] } | { unknown: string };
  /** Ingestion writer counters and its buffer bound; null when the Discord side does not run. */
  ingest: { dropped: number; rejected: number; buffered: number; capacity: number } | null;
  /** Failed invalidations and publishes (total); null when the Discord side does not run. */
  invalidationErrors: number | null;
  /** The same readiness checks as GET /health/ready. */
  readiness: { name: string; up: boolean; error?: string }[];
  /** Sockets closed as slow consumers (total); null until the WebSocket endpoint is attached. */
  wsSlowConsumerCloses: number | null;
}

/** What the monitoring reads from the cache: `getLocalStats` (in process) when it has one, else `getStats`. */
export type CacheStatsSource = Pick<SpyCache, "getStats"> & {
  getLocalStats?: () => Pick<SpyCacheStats, "instance" | "breaker" | "l1" | "invalidation"> &
    Partial<Pick<SpyCacheStats, "locks">>;
};

/** Where an `AlertSampler` reads from (the running service's parts). */
export interface AlertSampleSources {
  /**
   * The cache: asked `getStats()` (bounded by `timeoutMs`; its Redis reads probe the breaker), then its lookups, hits
   * and breaker state are read in process with `getLocalStats()` when it has it (known even while Redis hangs).
   */
  cache: CacheStatsSource;
  /** The command connection: INFO (memory, evictions) is read on each of its masters. */
  redis: RedisClient;
  readinessChecks: ReadinessCheck[];
  /** The Discord side's `stats()`; omitted when it does not run. */
  discordStats?: (() => DiscordSideStats) | undefined;
  /** The ingestion writer's buffer bound (INGEST_MAX_BUFFERED_ROWS), for the buffer rule. */
  ingestCapacity?: number | undefined;
  /** The WebSocket endpoint's `stats()` (undefined until it is attached). */
  realtimeStats?: (() => RealtimeStats | undefined) | undefined;
  /** The fleet p99 of the cache's Redis calls over the alert window (bounded by `timeoutMs`); omitted: unknown. */
  cacheP99Ms?: (() => Promise<number | null>) | undefined;
  /** Stampede lock counters (ops/counting-lock.ts); omitted: unknown. */
  lockCounters?: (() => { attempts: number; failures: number }) | undefined;
  /** Bound of each source read (HEALTH_CHECK_TIMEOUT_MS); a source past it counts as unknown or down. */
  timeoutMs: number;
}

/** Reads one `AlertSample`; never throws (a failing source yields null or "unknown" for its part). */
export type AlertSampler = (at: number) => Promise<AlertSample>;

/** Builds the sampler the alert monitor calls once per evaluation. */
export function createAlertSampler(sources: AlertSampleSources): AlertSampler {
  return async (at) => {
    const [cache, redis, readiness, cacheP99Ms] = await Promise.all([
      readCache(sources),
      readRedisInfo(sources.redis, sources.timeoutMs),
      runReadinessChecks(sources.readinessChecks, sources.timeoutMs),
      sources.cacheP99Ms
        ? withTimeout(sources.cacheP99Ms(), sources.timeoutMs, "cache p99").catch(() => null)
        : Promise.resolve(null),
    ]);
    const locks = sources.lockCounters?.();
    const discord = sources.discordStats?.();
    const realtime = sources.realtimeStats?.();
    return {
      at,
      ...cache,
      cacheP99Ms,
      locks: locks ? { attempts: locks.attempts, failures: locks.failures } : null,
      redis,
      ingest: discord
        ? {
            dropped: discord.ingest.dropped,
            rejected: discord.ingest.rejected,
            buffered: discord.ingest.buffered,
            capacity: sources.ingestCapacity ?? 0,
          }
        : null,
      invalidationErrors: discord ? discord.invalidation.errors : null,
      readiness: readiness.map(({ name, status, error }) => ({
        name,
        up: status === "up",
        ...(error ? { error: scrubError(error) } : {}),
      })),
      wsSlowConsumerCloses: realtime ? realtime.slowConsumerCloses : null,
    };
  };
}

/**
 * Lookups, hits and breaker state. `getStats` is always called (bounded by `timeoutMs`): on an idle instance its Redis
 * reads, which pass through the breaker, are what open the breaker in an outage and close it afterwards. The numbers
 * themselves are then read in process with `getLocalStats` when the cache has it, so they are known (and
 * `cache_breaker_open` can fire) even when `getStats` hangs or fails.
 */
async function readCache(sources: AlertSampleSources): Promise<Pick<AlertSample, "cache" | "breakerState">> {
  const remote = await withTimeout(
    sources.cache.getStats({ includeKeyspace: false }),
    sources.timeoutMs,
    "cache stats",
  ).catch(() => undefined);
  let stats: Pick<SpyCacheStats, "instance" | "breaker"> | undefined;
  try {
    stats = sources.cache.getLocalStats?.() ?? remote;
  } catch {
    stats = remote;
  }
  if (!stats) return { cache: null, breakerState: null };
  const { instance } = stats;
  return {
    cache: { lookups: instance.lookups, hits: instance.hits.total + instance.stale, errors: instance.errors },
    breakerState: stats.breaker.state,
  };
}

/** INFO (memory and stats) on every master, each bounded by `timeoutMs`; any failure makes the whole reading unknown. */
export async function readRedisInfo(redis: RedisClient, timeoutMs: number): Promise<AlertSample["redis"]> {
  try {
    const nodes = await Promise.all(
      scanTargets(redis).map(async (node) => {
        // One INFO (default sections) carries both memory and stats: one round trip per master.
        const info = await withTimeout(node.info(), timeoutMs, "redis INFO");
        return {
          node: `${node.options.host ?? "?"}:${node.options.port ?? "?"}`,
          usedBytes: infoField(info, "used_memory"),
          maxBytes: infoField(info, "maxmemory"),
          evictedKeys: infoField(info, "evicted_keys"),
        };
      }),
    );
    // A cluster client that has not discovered its masters yet lists none: that is not "no memory pressure".
    return nodes.length === 0 ? { unknown: "no Redis master known yet" } : { nodes };
  } catch (error) {
    return { unknown: scrubError(error instanceof Error ? error.message : String(error)) };
  }
}

function infoField(info: string, field: string): number {
  const match = new RegExp(`^${field}:(\\d+)`, "m").exec(info);
  if (!match?.[1]) throw new Error(`INFO has no ${field}`);
  return Number(match[1]);
}

/** Error text fit for logs and the alerts route: credentials in URLs removed, length bounded. */
export function scrubError(message: string): string {
  return message.replace(/\/\/[^/@\s]*@/g, "//***@").slice(0, 300);
}
