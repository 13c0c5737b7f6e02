import type { Logger } from "pino";
import type { RedisClient } from "../redis/redis-connections.ts";
import type { Duration } from "./cache-types.ts";
import type { L1Options } from "./read/l1-store.ts";
import type { LockPort, StatsPort } from "./cache-ports.ts";
import type { CircuitBreaker, CircuitBreakerOptions, CircuitState } from "./transport/circuit-breaker.ts";
import { CACHE_DEFAULTS } from "./cache-defaults.ts";
import { parseDuration } from "./duration.ts";
import type { RecentReadsOptions } from "./remember/recent-reads.ts";

/** Options of `createCache`. Every field but `redis` is optional; the default is in each line. */
export interface CreateCacheOptions {
  /** Command connection: a single `Redis` or a `Cluster`. Required. Not closed by `close()`. */
  redis: RedisClient;
  /** Connection for SUBSCRIBE (default: a duplicate of `redis`, opened and closed by the cache). */
  subscriber?: RedisClient;
  /** Namespace of every key (default "spywatcher:cache"). */
  prefix?: string;
  /** Cache format version in every key; bump it to orphan all entries at once (default "v1"). */
  version?: string;
  /** Longest Redis key; longer ones are shortened with a hash suffix (default 250). */
  maxKeyLength?: number;
  /** TTL of `set` without one (default "5m"). */
  defaultTtl?: Duration;
  /** Time past the fresh TTL during which an entry may be served stale (default "1m"; 0 disables grace). */
  grace?: Duration;
  /** In grace, serve stale at once and refresh in the background (default true); false waits for the loader. */
  staleWhileRevalidate?: boolean;
  /** Refresh in the background once this fraction of the fresh TTL has passed (default 0.8; 0 or >= 1 disables). */
  refreshAheadAt?: number;
  /** Default soft loader timeout: past it a stale value is served if one exists (default none). */
  softTimeout?: Duration;
  /** Default hard loader timeout: past it the call fails with E_FACTORY_HARD_TIMEOUT (default none). */
  hardTimeout?: Duration;
  /** Compress values whose JSON is at least this many bytes (gzip, base64 in the envelope; default off). */
  compressAboveBytes?: number;
  /** In-process L1 tier: false (default) or its bounds. */
  l1?: false | L1Options;
  /** W: longest wait of an invalidation for acknowledgements; the local tag map is trusted W/2 past a ping (default 500). */
  invalidationWindowMs?: number;
  /** Instances whose heartbeat is older than this are not waited for (default 5,000 ms). */
  liveWindowMs?: number;
  /**
   * S: how long after this process learned of a SOFT invalidation an entry it made stale may still be served
   * (status "stale", one background refresh); past it the entry is a miss (default 250 ms, about one recompute).
   */
  softInvalidationStaleMs?: number;
  /**
   * On a soft invalidation applied in this process (own or from the bus), refresh at once, in the background, every
   * key this process served by remember/rememberWithMeta lately and carrying a bumped tag, instead of waiting for
   * its next reader (default true = { maxKeys: 1_000, idleMs: 60_000 }: at most 1,000 keys, each forgotten after
   * 60 s without a read; false disables).
   */
  refreshOnSoftInvalidation?: boolean | Partial<RecentReadsOptions>;
  /** TTL of tag version keys; an expired one is re-created safely (default "30d"). */
  tagTtl?: Duration;
  /** Most last good copies (`RememberOptions.lastGood`) also held in process, for when Redis fails too (default 1,000). */
  lastGoodMaxEntries?: number;
  /** Tell other instances about `set`/`delete` so their L1 drops the key (default true). */
  announceWrites?: boolean;
  /** Cross-process stampede lock around loaders (default true). */
  lock?: boolean;
  /** TTL of a stampede lock (default 10,000 ms); it only bounds how long a crashed holder blocks others. */
  lockTtlMs?: number;
  /** How long a process waits for another's loader before running its own (default 5,000 ms). */
  lockWaitMs?: number;
  /** Poll interval while waiting for another process's loader, besides its "filled" message (default 50 ms). */
  lockPollMs?: number;
  /**
   * Options of each master's circuit breaker (defaults: 5 failures, 10 s recovery, 3 half-open probes), or one
   * `CircuitBreaker` shared by every master (one verdict for all of Redis). See docs/cache-resilience.md.
   */
  breaker?: CircuitBreaker | CircuitBreakerOptions;
  /** How often the master behind an open breaker is probed with a PING (default 250 ms). */
  breakerProbeIntervalMs?: number;
  /** Called on every state change of a master's breaker, with the node ("host:port"; "redis" on a single node). */
  onBreakerStateChange?: (node: string, from: CircuitState, to: CircuitState) => void;
  /** Per-call timeout applied only when the connection has no `commandTimeout` (default 250 ms). */
  fallbackCommandTimeoutMs?: number;
  /** This process's id on the bus (default host:pid:random). */
  instanceId?: string;
  /** Lock service (default: DistributedLock on `redis`). */
  lockService?: LockPort;
  /** Stats recorder (default: CacheStatsRecorder on `redis`). */
  stats?: StatsPort;
  /** Logger for background failures (default: none). */
  logger?: Logger;
}

/** The options with every default applied and durations in ms. */
export interface ResolvedCacheOptions {
  prefix: string;
  version: string;
  maxKeyLength: number;
  defaultTtlMs: number;
  graceMs: number;
  staleWhileRevalidate: boolean;
  refreshAheadAt: number;
  softTimeoutMs: number | undefined;
  hardTimeoutMs: number | undefined;
  compressAboveBytes: number | undefined;
  l1: false | L1Options;
  invalidationWindowMs: number;
  liveWindowMs: number;
  softInvalidationStaleMs: number;
  refreshOnSoftInvalidation: false | RecentReadsOptions;
  tagTtlMs: number;
  lastGoodMaxEntries: number;
  announceWrites: boolean;
  lock: boolean;
  lockTtlMs: number;
  lockWaitMs: number;
  lockPollMs: number;
  fallbackCommandTimeoutMs: number;
}

/** Applies the defaults. */
export function resolveCacheOptions(options: CreateCacheOptions): ResolvedCacheOptions {
  return {
    prefix: options.prefix ?? CACHE_DEFAULTS.prefix,
    version: options.version ?? CACHE_DEFAULTS.version,
    maxKeyLength: options.maxKeyLength ?? 250,
    defaultTtlMs: options.defaultTtl === undefined ? CACHE_DEFAULTS.defaultTtlMs : parseDuration(options.defaultTtl),
    graceMs: options.grace === undefined ? CACHE_DEFAULTS.graceMs : parseDuration(options.grace),
    staleWhileRevalidate: options.staleWhileRevalidate ?? CACHE_DEFAULTS.staleWhileRevalidate,
    refreshAheadAt: options.refreshAheadAt ?? CACHE_DEFAULTS.refreshAheadAt,
    softTimeoutMs: options.softTimeout === undefined ? undefined : parseDuration(options.softTimeout),
    hardTimeoutMs: options.hardTimeout === undefined ? undefined : parseDuration(options.hardTimeout),
    compressAboveBytes: options.compressAboveBytes,
    l1: options.l1 ?? CACHE_DEFAULTS.l1,
    invalidationWindowMs: options.invalidationWindowMs ?? CACHE_DEFAULTS.invalidationWindowMs,
    liveWindowMs: options.liveWindowMs ?? 5_000,
    softInvalidationStaleMs: options.softInvalidationStaleMs ?? CACHE_DEFAULTS.softInvalidationStaleMs,
    refreshOnSoftInvalidation: resolveRecentReads(options.refreshOnSoftInvalidation),
    tagTtlMs: parseDuration(options.tagTtl ?? "30d"),
    lastGoodMaxEntries: options.lastGoodMaxEntries ?? 1_000,
    announceWrites: options.announceWrites ?? true,
    lock: options.lock ?? true,
    lockTtlMs: options.lockTtlMs ?? CACHE_DEFAULTS.lockTtlMs,
    lockWaitMs: options.lockWaitMs ?? CACHE_DEFAULTS.lockWaitMs,
    lockPollMs: options.lockPollMs ?? 50,
    fallbackCommandTimeoutMs: options.fallbackCommandTimeoutMs ?? 250,
  };
}

/** `refreshOnSoftInvalidation` with its defaults: true or absent is 1,000 keys idle after 60 s; false is off. */
function resolveRecentReads(option: boolean | Partial<RecentReadsOptions> | undefined): false | RecentReadsOptions {
  if (option === false) return false;
  const given = option === true || option === undefined ? {} : option;
  return { maxKeys: given.maxKeys ?? 1_000, idleMs: given.idleMs ?? 60_000 };
}
