import { withTimeout } from "../../lib/with-timeout.ts";
import type { CacheContext } from "../cache-context.ts";
import type { KeyScanner } from "../keys/key-scanner.ts";
import type { CircuitBreakerStats } from "../transport/circuit-breaker.ts";
import type { FleetCacheStats, LocalCacheStats } from "./cache-stats-types.ts";

/**
 * Document 001's fields, at the top level of `getStats()`: this application's own numbers, fleet-wide when Redis
 * answers (this instance's otherwise), never Redis's server-wide `keyspace_hits`.
 */
export interface DocumentedCacheStats {
  /** Values served from the cache (L1 and Redis hits, and stale serves). */
  hits: number;
  /** Values the loader had to compute (misses, and bypasses while Redis was unavailable). */
  misses: number;
  /** hits / (hits + misses) in percent, two decimals (0 before the first lookup). */
  hitRate: number;
  /** Memory of this application's keys, human-readable like Redis's own ("2.5M"); null when not measured. */
  memoryUsed: string | null;
  /** Keys Redis evicted (INFO stats, every master: server-wide, Redis cannot say whose); null when unknown. */
  evictedKeys: number | null;
  /** Keys of this application's prefix (entries and internal keys); null when not counted. */
  keyCount: number | null;
}

/** Everything `getStats()` reports. Only this application's numbers, except `redis.evictedKeys` (server-wide). */
export interface SpyCacheStats extends DocumentedCacheStats {
  /** This instance: hits (L1/L2), misses, stale, errors, bypasses, hit rate %, p50/p95/p99 of Redis and loaders. */
  instance: LocalCacheStats;
  /** Summed over every instance of this prefix (null when Redis did not answer). */
  fleet: FleetCacheStats | null;
  breaker: CircuitBreakerStats;
  /** In-process tier usage (null when disabled). */
  l1: { entries: number; bytes: number } | null;
  /**
   * State of the invalidation protocol on this instance; `versionReads`: tag versions read from Redis since start
   * (reads that could not rely on the in-process map: docs/cache.md, "Tag invalidation", rules 5 and 6).
   */
  invalidation: { trusted: boolean; knownTags: number; lastPingRoundTripMs: number | null; versionReads: number };
  /** Stampede locks this instance holds now (null when locking is off or not counted). */
  locks: { held: number | null };
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
  const local = localStats(ctx);
  const counted = fleet ?? local.instance;
  const hits = counted.hits.total + counted.stale;
  const misses = counted.misses + counted.bypasses;
  return {
    hits,
    misses,
    hitRate: hits + misses === 0 ? 0 : Math.round((hits / (hits + misses)) * 10_000) / 100,
    memoryUsed: keyspace ? humanBytes(keyspace.estimatedBytes) : null,
    evictedKeys,
    keyCount: keyspace ? keyspace.keys : null,
    ...local,
    fleet,
    keyspace,
    redis: { evictedKeys },
  };
}

/** Bytes as Redis's `used_memory_human` writes them: "512B", "1.5K", "2.5M", "1.02G". */
export function humanBytes(bytes: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : Number(value.toFixed(2))}${units[unit]}`;
}

/** The parts of the stats this process holds itself: no Redis call, so they answer during any outage. */
export function localStats(
  ctx: CacheContext,
): Pick<SpyCacheStats, "instance" | "breaker" | "l1" | "invalidation" | "locks"> {
  return {
    instance: ctx.stats.snapshot(),
    breaker: ctx.gateway.breakers.stats(),
    l1: ctx.l1?.usage ?? null,
    invalidation: {
      trusted: ctx.tags.isTrusted(),
      knownTags: ctx.tags.size,
      lastPingRoundTripMs: ctx.bus.lastPingRoundTripMs ?? null,
      versionReads: ctx.tags.versionReads,
    },
    locks: { held: ctx.lock?.heldCount ?? null },
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
