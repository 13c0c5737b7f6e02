import { withTimeout } from "../lib/with-timeout.ts";
import type { CacheContext } from "./cache-context.ts";
import type { KeyScanner } from "./key-scanner.ts";
import type { CircuitBreakerStats } from "./resilience/circuit-breaker.ts";
import type { FleetCacheStats, LocalCacheStats } from "./stats/cache-stats-types.ts";

/** Everything `getStats()` reports. Only this application's numbers, except `redis.evictedKeys` (server-wide). */
export interface SpyCacheStats {
  /** This instance: hits (L1/L2), misses, stale, errors, bypasses, hit rate %, p50/p95/p99 of Redis and loaders. */
  instance: LocalCacheStats;
  /** Summed over every instance of this prefix (null when Redis did not answer). */
  fleet: FleetCacheStats | null;
  breaker: CircuitBreakerStats;
  /** In-process tier usage (null when disabled). */
  l1: { entries: number; bytes: number } | null;
  /** State of the invalidation protocol on this instance. */
  invalidation: { trusted: boolean; knownTags: number; lastPingRoundTripMs: number | null };
  /** Keys of this prefix and their memory (estimated from a MEMORY USAGE sample); null when skipped or unreachable. */
  keyspace: { keys: number; sampledKeys: number; estimatedBytes: number } | null;
  /** Keys Redis evicted (INFO stats, summed over masters; server-wide, Redis cannot say whose). Null if unknown. */
  redis: { evictedKeys: number | null };
}

const MEMORY_SAMPLE = 200;
/**
 * Longest wait for the fleet's numbers: they are flushed and read on the stats connection directly, and a cluster
 * connection queues commands without a deadline while it has no slot map (a full outage), so bound them here.
 */
const FLEET_READ_TIMEOUT_MS = 1_000;

/** Collects the stats; Redis failures leave their parts null instead of failing. */
export async function collectStats(
  ctx: CacheContext,
  scanner: KeyScanner,
  options: { includeKeyspace?: boolean },
): Promise<SpyCacheStats> {
  const [fleet, keyspace, evictedKeys] = await Promise.all([
    withTimeout(ctx.stats.fleetStats(), FLEET_READ_TIMEOUT_MS, "fleet stats").catch(() => null),
    options.includeKeyspace === false
      ? null
      : scanner
          .measure(ctx.keys.everythingPattern(), MEMORY_SAMPLE)
          .then((m) => ({
            keys: m.keys,
            sampledKeys: m.sampled,
            estimatedBytes: m.sampled === 0 ? 0 : Math.round((m.sampledBytes / m.sampled) * m.keys),
          }))
          .catch(() => null),
    evicted(ctx).catch(() => null),
  ]);
  return { ...localStats(ctx), fleet, keyspace, redis: { evictedKeys } };
}

/** The parts of the stats this process holds itself: no Redis call, so they answer during any outage. */
export function localStats(ctx: CacheContext): Pick<SpyCacheStats, "instance" | "breaker" | "l1" | "invalidation"> {
  return {
    instance: ctx.stats.snapshot(),
    breaker: ctx.gateway.breakers.stats(),
    l1: ctx.l1?.usage ?? null,
    invalidation: {
      trusted: ctx.tags.isTrusted(),
      knownTags: ctx.tags.size,
      lastPingRoundTripMs: ctx.bus.lastPingRoundTripMs ?? null,
    },
  };
}

async function evicted(ctx: CacheContext): Promise<number> {
  let total = 0;
  const masters = ctx.gateway.masters();
  if (masters.length === 0) throw new Error("no Redis master is known");
  for (const node of masters) {
    const info = await ctx.gateway.call(() => node.info("stats"), node);
    total += Number(/evicted_keys:(\d+)/.exec(info)?.[1] ?? 0);
  }
  return total;
}
