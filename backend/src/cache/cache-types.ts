import type { z } from "zod";

/**
 * The public contract of the SpyWatcher cache layer. Other parts of the service (analytics routes, invalidation,
 * CLI) depend only on this file; the engine behind it may grow, but these signatures stay compatible.
 *
 * Durations (TTLs, grace, loader timeouts) are SECONDS when given as numbers (`{ ttl: 300 }` is five minutes, as in
 * document 001 and Redis `EX`), or strings with a unit: "500ms", "30s", "5m", "1h", "1d". Options whose name ends
 * in `Ms` are plain milliseconds.
 */
export type Duration = number | `${number}${"ms" | "s" | "m" | "h" | "d"}`;

/** Where a value came from. */
export type CacheStatus =
  | "hit" // fresh value from L1 or Redis
  | "miss" // computed by the loader now
  | "stale" // served past its fresh TTL (grace), or softly invalidated less than S ago: stale-while-revalidate or stale-if-error
  | "bypass"; // Redis unavailable (breaker open or error): the loader ran directly and nothing was cached

/** Options of one `set`. */
export interface SetOptions {
  /** Fresh time to live. */
  ttl?: Duration;
  /** Tags this entry belongs to; `invalidateByTag(tag)` makes it unreadable everywhere. */
  tags?: string[];
  /** Extra time past `ttl` during which the entry may still be served stale (default: the cache's grace). */
  grace?: Duration;
}

/** Options of one `remember`. */
export interface RememberOptions<T> extends SetOptions {
  /** Validates a cached value; a value that no longer fits is treated as a miss, never a crash. */
  schema?: z.ZodType<T>;
  /** After this long the loader is abandoned in favour of a stale value, if one exists (it keeps running and still fills the cache). */
  softTimeout?: Duration;
  /** After this long the call fails with E_FACTORY_HARD_TIMEOUT (unless stale-if-error serves a stale value). */
  hardTimeout?: Duration;
  /** Refresh in the background once this fraction of the TTL has elapsed (default 0.8; 0 or 1 disables). */
  refreshAheadAt?: number;
  /** In grace: serve stale at once and refresh in the background (default true); false waits for the loader. */
  staleWhileRevalidate?: boolean;
  /**
   * Stale-if-error beyond the entry's own life: every value the loader produces is also kept under `key` for
   * `horizon` (regardless of invalidations), and served as stale when the loader fails and no usable entry exists.
   * Give several entries one `key` (e.g. one per relative window instead of one per minute) to share a fallback.
   */
  lastGood?: { key: string; horizon: Duration };
  /**
   * Counts this call's hits, stale serves, misses and bypasses under this label too (`CacheStats.byLabel`, fleet-wide);
   * a small fixed set such as the analytic types (at most 64 labels are kept), never a per-key value.
   */
  statsLabel?: string;
}

/** Options of one tag invalidation. */
export interface InvalidateOptions {
  /**
   * "hard" (default): matching entries are gone for every reader once the call resolves. "soft": they become
   * stale; a reader that learned of it less than `softInvalidationStaleMs` ago serves the old value once and
   * refreshes it in the background, later (or unsure) readers miss. A hard invalidation always wins over a soft one.
   */
  mode?: "hard" | "soft";
}

/** A value and how it was obtained. */
export interface CacheResult<T> {
  value: T;
  status: CacheStatus;
  /** Milliseconds since the value was computed (0 for a miss or bypass). */
  ageMs: number;
  /** Epoch ms when the value was computed. */
  storedAt: number;
  /** True when served stale because the loader failed or timed out (stale-if-error). */
  staleBecauseOfError?: boolean;
  /** With `staleBecauseOfError`: the loader's error (or timeout) that the stale value stands in for. */
  loaderError?: unknown;
}

/** The cache layer. */
export interface Cache {
  get<T>(key: string, options?: { schema?: z.ZodType<T> }): Promise<T | undefined>;
  set<T>(key: string, value: T, options?: SetOptions): Promise<void>;
  delete(key: string): Promise<boolean>;
  exists(key: string): Promise<boolean>;
  mget<T>(keys: string[]): Promise<(T | undefined)[]>;
  mset<T>(entries: { key: string; value: T; options?: SetOptions }[]): Promise<void>;
  increment(key: string, by?: number, options?: { ttl?: Duration }): Promise<number>;
  decrement(key: string, by?: number, options?: { ttl?: Duration }): Promise<number>;

  /** Cache-aside: the cached value, or the loader's result (stored). Stampede-protected. */
  remember<T>(key: string, ttl: Duration, loader: () => Promise<T>, options?: RememberOptions<T>): Promise<T>;
  /** Same as `remember`. */
  getOrSet<T>(key: string, ttl: Duration, loader: () => Promise<T>, options?: RememberOptions<T>): Promise<T>;
  /** Like `remember`, also saying whether it was a hit, miss, stale or bypass, and the value's age. */
  rememberWithMeta<T>(
    key: string,
    ttl: Duration,
    loader: () => Promise<T>,
    options?: RememberOptions<T>,
  ): Promise<CacheResult<T>>;
  /**
   * What `rememberWithMeta` would answer, when it can answer without I/O: a fresh hit of this process's in-process
   * tier (L1 on, entry valid and fresh: docs/cache.md, "L1"), recorded and refreshed ahead exactly like that hit; or,
   * while the key's master is out (its breaker open), this process's copy within its grace, `stale` with
   * `staleBecauseOfError` (as `rememberWithMeta` answers then). Undefined otherwise (the caller then awaits
   * `rememberWithMeta`): a hot path answers in one synchronous pass.
   */
  peekWithMeta<T>(
    key: string,
    ttl: Duration,
    loader: () => Promise<T>,
    options?: RememberOptions<T>,
  ): CacheResult<T> | undefined;

  /**
   * Invalidates every entry carrying `tag`, in every process, before resolving, and resolves to the number of
   * entries it covered (as document 001 logs it; approximate). Cost independent of entry count.
   */
  invalidateByTag(tag: string, options?: InvalidateOptions): Promise<number>;
  /** Invalidates every entry carrying any of `tags` (hard by default; see `InvalidateOptions`); resolves to the entry count. */
  invalidateByTags(tags: string[], options?: InvalidateOptions): Promise<number>;
  /** `invalidateByTags` with the whole report: the tags, the entries covered and whether that count is approximate. */
  invalidateByTagsWithReport(
    tags: string[],
    options?: InvalidateOptions,
  ): Promise<{ tags: string[]; entries: number; approximate: boolean }>;

  /** Deletes these keys everywhere (Redis, every instance's L1); resolves to how many existed. */
  deleteMany(keys: string[]): Promise<number>;
  /** Deletes this app's keys matching a glob over the logical key (SCAN on every master, never KEYS). */
  deleteByPattern(pattern: string): Promise<number>;
  /** Same as `deleteByPattern` (the name the source designs use). */
  clearPattern(pattern: string): Promise<number>;
  /** Deletes every key of this app's prefix (never FLUSHALL/FLUSHDB). */
  clear(): Promise<number>;
}
