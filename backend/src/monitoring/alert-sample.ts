import type { DiscordSideStats } from "../bot/discord-side.ts";
import type { SpyCache } from "../cache/index.ts";
import type { CircuitState } from "../cache/resilience/circuit-breaker.ts";
import { scanTargets } from "../cache/stats/scan-every-master.ts";
import { runReadinessChecks, type ReadinessCheck } from "../health/readiness-checks.ts";
import { withTimeout } from "../lib/with-timeout.ts";
import type { RealtimeStats } from "../realtime/realtime-server.ts";
import type { RedisClient } from "../redis/redis-connections.ts";

/** Memory of one Redis master (INFO memory); `maxBytes` 0 means no maxmemory is set. */
export interface RedisNodeMemory {
  node: string;
  usedBytes: number;
  maxBytes: number;
}

/**
 * One reading of everything the alert rules look at, taken at `at` (epoch ms). Counters are totals since start;
 * the rules compare two samples. A part is null when its source is absent (no Discord side) or did not answer.
 */
export interface AlertSample {
  at: number;
  /** This instance's cache counters and breaker state; null when `getStats` failed or timed out. */
  cache: { lookups: number; hits: number; breakerState: CircuitState; evictedKeys: number | null } | null;
  /** INFO memory of every master, or why it is unknown. */
  redisMemory: { nodes: RedisNodeMemory[] } | { unknown: string };
  /** Ingestion writer counters and its buffer bound; null when the Discord side does not run. */
  ingest: { dropped: number; rejected: number; buffered: number; capacity: number } | null;
  /** Failed invalidations and publishes (total); null when the Discord side does not run. */
  invalidationErrors: number | null;
  /** The same readiness checks as GET /health/ready. */
  readiness: { name: string; up: boolean; error?: string }[];
  /** Sockets closed as slow consumers (total); null until the WebSocket endpoint is attached. */
  wsSlowConsumerCloses: number | null;
}

/** Where an `AlertSampler` reads from (the running service's parts). */
export interface AlertSampleSources {
  cache: Pick<SpyCache, "getStats">;
  /** The command connection: INFO memory is read on each of its masters. */
  redis: RedisClient;
  readinessChecks: ReadinessCheck[];
  /** The Discord side's `stats()`; omitted when it does not run. */
  discordStats?: (() => DiscordSideStats) | undefined;
  /** The ingestion writer's buffer bound (INGEST_MAX_BUFFERED_ROWS), for the buffer rule. */
  ingestCapacity?: number | undefined;
  /** The WebSocket endpoint's `stats()` (undefined until it is attached). */
  realtimeStats?: (() => RealtimeStats | undefined) | undefined;
  /** Bound of each source read (HEALTH_CHECK_TIMEOUT_MS); a source past it counts as unknown or down. */
  timeoutMs: number;
}

/** Reads one `AlertSample`; never throws (a failing source yields null or "unknown" for its part). */
export type AlertSampler = (at: number) => Promise<AlertSample>;

/** Builds the sampler the alert monitor calls once per evaluation. */
export function createAlertSampler(sources: AlertSampleSources): AlertSampler {
  return async (at) => {
    const [cache, redisMemory, readiness] = await Promise.all([
      readCache(sources),
      readRedisMemory(sources.redis, sources.timeoutMs),
      runReadinessChecks(sources.readinessChecks, sources.timeoutMs),
    ]);
    const discord = sources.discordStats?.();
    const realtime = sources.realtimeStats?.();
    return {
      at,
      cache,
      redisMemory,
      ingest: discord
        ? {
            dropped: discord.ingest.dropped,
            rejected: discord.ingest.rejected,
            buffered: discord.ingest.buffered,
            capacity: sources.ingestCapacity ?? 0,
          }
        : null,
      invalidationErrors: discord ? discord.invalidation.errors : null,
      readiness: readiness.map(({ name, status, error }) => ({ name, up: status === "up", ...(error ? { error: scrubError(error) } : {}) })),
      wsSlowConsumerCloses: realtime ? realtime.slowConsumerCloses : null,
    };
  };
}

async function readCache(sources: AlertSampleSources): Promise<AlertSample["cache"]> {
  try {
    const stats = await withTimeout(sources.cache.getStats({ includeKeyspace: false }), sources.timeoutMs, "cache stats");
    const { instance } = stats;
    return {
      lookups: instance.lookups,
      hits: instance.hits.total + instance.stale,
      breakerState: stats.breaker.state,
      evictedKeys: stats.redis.evictedKeys,
    };
  } catch {
    return null;
  }
}

/** INFO memory on every master (each bounded by `timeoutMs`); any failure makes the whole reading unknown. */
export async function readRedisMemory(redis: RedisClient, timeoutMs: number): Promise<AlertSample["redisMemory"]> {
  try {
    const nodes = await Promise.all(
      scanTargets(redis).map(async (node) => {
        const info = await withTimeout(node.info("memory"), timeoutMs, "redis INFO memory");
        return { node: `${node.options.host ?? "?"}:${node.options.port ?? "?"}`, usedBytes: infoField(info, "used_memory"), maxBytes: infoField(info, "maxmemory") };
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
  if (!match?.[1]) throw new Error(`INFO memory has no ${field}`);
  return Number(match[1]);
}

/** Error text fit for logs and the alerts route: credentials in URLs removed, length bounded. */
export function scrubError(message: string): string {
  return message.replace(/\/\/[^/@\s]*@/g, "//***@").slice(0, 300);
}
