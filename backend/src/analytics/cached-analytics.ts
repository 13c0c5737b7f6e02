import type { WarmLoaderEntry } from "../cache/read/batch-operations.ts";
import type { Cache, CacheResult } from "../cache/cache-types.ts";
import { AppError, DependencyUnavailableError } from "../errors.ts";
import { analyticsCacheKey, analyticsTags, type AnalyticsType } from "./analytics-catalog.ts";
import type { AnalyticsService } from "./analytics-service.ts";
import { DEFAULT_LIMIT } from "./analytics-types.ts";
import { floorToMinute, parseSince } from "./analytics-window.ts";
import { analyticDefinition } from "./definitions/index.ts";
import type { SpyCache } from "../cache/spy-cache.ts";

/** What reading a cached analytic needs. */
export interface CachedAnalyticsDependencies {
  /** The cache layer: `rememberWithMeta`, and `peekWithMeta` (the synchronous in-process answer) when it has one. */
  cache: Pick<Cache, "rememberWithMeta"> & Partial<Pick<Cache, "peekWithMeta">>;
  /** Computes analytics from PostgreSQL on a miss. */
  analytics: AnalyticsService;
  /** Clock (default `new Date()`); the window of a computation ends when its loader runs. */
  now?: () => Date;
  /**
   * How long the last good value of each (analytic, guild, window, limit) is served, stale, when it cannot be
   * computed (default 6 h; 0: only the entry's own grace). See `lastGoodKey`.
   */
  staleIfErrorMs?: number;
}

/** The default stale-if-error horizon of analytics (ANALYTICS_STALE_IF_ERROR_MS). */
export const DEFAULT_ANALYTICS_STALE_IF_ERROR_MS = 6 * 3_600_000;

/** One analytic of one guild: window start (rounded down to the minute here) and page size. */
export interface CachedAnalyticsRequest {
  guildId: string;
  since: Date;
  limit: number;
  /** The window as the caller wrote it (`24h`, `7d`, or an ISO time); names the last good copy (default: `since`). */
  window?: string;
}

/**
 * Reads one analytic through the cache with its key and tags (analytics-catalog.ts) and its definition's TTL, computing it from
 * PostgreSQL on a miss. The API and `spywatcher cache warm` both go through here, so they fill the same entries.
 * A failed computation rejects with DependencyUnavailableError (503).
 */
export function rememberAnalytics(
  deps: CachedAnalyticsDependencies,
  type: AnalyticsType,
  request: CachedAnalyticsRequest,
): Promise<CacheResult<unknown>> {
  const entry = memoizedEntry(deps, type, request);
  return deps.cache.rememberWithMeta(entry.key, entry.ttl, entry.loader, entry.options);
}

/**
 * What `rememberAnalytics` would answer, when the cache can answer without I/O (a fresh in-process hit, or the
 * copy it serves stale while the key's Redis master is out), else
 * undefined: the API answers such a request in one synchronous pass, with no promise and no microtask hop.
 */
export function peekAnalytics(
  deps: CachedAnalyticsDependencies,
  type: AnalyticsType,
  request: CachedAnalyticsRequest,
): CacheResult<unknown> | undefined {
  if (deps.cache.peekWithMeta === undefined) return undefined;
  const entry = memoizedEntry(deps, type, request);
  return deps.cache.peekWithMeta(entry.key, entry.ttl, entry.loader, entry.options);
}

type AnalyticsEntry = ReturnType<typeof analyticsEntry>;
/** Distinct requests remembered per dependencies object before the memo starts over (keys change every minute). */
const ENTRY_MEMO_MAX = 1_000;
const entryMemos = new WeakMap<CachedAnalyticsDependencies, Map<string, AnalyticsEntry>>();
/** The entry last found for a request object: the API passes the same parsed request again within a minute. */
const entryOfRequest = new WeakMap<
  CachedAnalyticsRequest,
  { deps: CachedAnalyticsDependencies; type: AnalyticsType; entry: AnalyticsEntry }
>();

/**
 * `analyticsEntry`, remembered per dependencies object and request (its key, tags, loader and options only depend
 * on them and on `since` to the minute): a cache hit then builds no key strings, tag arrays or closures. Callers
 * that pass the same `deps` object on every request (the API router) get the saving; nothing here is mutated.
 */
function memoizedEntry(
  deps: CachedAnalyticsDependencies,
  type: AnalyticsType,
  request: CachedAnalyticsRequest,
): AnalyticsEntry {
  const known = entryOfRequest.get(request);
  if (known !== undefined && known.deps === deps && known.type === type) return known.entry;
  let memo = entryMemos.get(deps);
  if (!memo) entryMemos.set(deps, (memo = new Map()));
  const id = `${type}|${request.guildId}|${Math.floor(request.since.getTime() / 60_000)}|${request.limit}|${request.window ?? ""}`;
  let entry = memo.get(id);
  if (!entry) {
    entry = analyticsEntry(deps, type, request);
    if (memo.size >= ENTRY_MEMO_MAX) memo.clear();
    memo.set(id, entry);
  }
  entryOfRequest.set(request, { deps, type, entry });
  return entry;
}

/** The cache entry of one analytic: key, TTL, loader and tags (what `rememberAnalytics` and `cache.warm` use). */
export function analyticsEntry(
  deps: Pick<CachedAnalyticsDependencies, "analytics" | "now" | "staleIfErrorMs">,
  type: AnalyticsType,
  request: CachedAnalyticsRequest,
): WarmLoaderEntry & {
  ttl: number;
  options: { tags: string[]; statsLabel: AnalyticsType; lastGood?: { key: string; horizon: `${number}ms` } };
} {
  const now = deps.now ?? (() => new Date());
  // Windows start on a whole minute, as the cache key does, so every request sharing a key shares a result.
  const since = floorToMinute(request.since);
  const variant = request.limit === DEFAULT_LIMIT ? undefined : `limit=${request.limit}`;
  const horizonMs = deps.staleIfErrorMs ?? DEFAULT_ANALYTICS_STALE_IF_ERROR_MS;
  const tags = analyticsTags(type, request.guildId);
  return {
    key: analyticsCacheKey(type, request.guildId, since, variant),
    ttl: analyticDefinition(type).ttlSeconds,
    // The window ends when the loader runs, not when the caller came: the cache may rerun this loader later
    // (a refresh at an invalidation reuses the latest reader's loader), and it must then count rows up to then.
    loader: () =>
      compute(deps.analytics, type, { guildId: request.guildId, since, until: now(), limit: request.limit }),
    options:
      horizonMs > 0
        ? {
            tags,
            statsLabel: type,
            lastGood: {
              key: lastGoodKey(type, request.guildId, since, request.window, variant),
              horizon: `${horizonMs}ms`,
            },
          }
        : { tags, statsLabel: type },
  };
}

/**
 * Recomputes one analytic of one guild for the default window and limit (what a dashboard shows without
 * parameters), stores it, and returns the fresh result: the invalidation path calls this after an invalidation,
 * then publishes the result (`PubSubService.publishAnalyticsUpdate`). The value is returned even when Redis could
 * not store it.
 */
export async function recomputeAnalytics(
  deps: Pick<CachedAnalyticsDependencies, "analytics" | "now"> & { cache: Pick<SpyCache, "warm"> },
  type: AnalyticsType,
  guildId: string,
): Promise<unknown> {
  const now = (deps.now ?? (() => new Date()))();
  const window = parseSince(undefined, now);
  if (!window.ok) throw new Error(window.message);
  const entry = analyticsEntry(deps, type, { guildId, since: window.since, limit: DEFAULT_LIMIT });
  let computed: { value: unknown } | undefined;
  const report = await deps.cache.warm(
    [{ ...entry, loader: async () => (computed = { value: await entry.loader() }).value }],
    { force: true },
  );
  if (!computed) throw new Error(report.failed[0]?.error ?? `the ${type} analytic was not computed`);
  return computed.value;
}

const RELATIVE_WINDOW = /^\d{1,6}[mhd]$/;

/**
 * The key of an analytic's last good copy (stale-if-error): `last-good:analytics:<type>:<guildId>:<window>` (plus
 * `:limit=<n>`), where a relative window keeps its spec (`24h`, `7d`) and an absolute one its start minute. The
 * entry key changes every minute for a relative window, so without this there would be nothing to fall back on
 * at the next minute; the copy is rewritten at each computation and read only when a computation fails. Outside
 * `analytics:<type>:*`, so the CLI's per-analytic status and patterns count entries only.
 */
export function lastGoodKey(
  type: AnalyticsType,
  guildId: string,
  since: Date,
  window: string | undefined,
  variant?: string,
): string {
  const spec =
    window !== undefined && RELATIVE_WINDOW.test(window.trim()) ? window.trim() : floorToMinute(since).toISOString();
  return `last-good:analytics:${type}:${guildId}:${spec}${variant ? `:${variant}` : ""}`;
}

async function compute(
  analytics: AnalyticsService,
  type: AnalyticsType,
  query: Parameters<AnalyticsService["compute"]>[1],
): Promise<unknown> {
  try {
    return await analytics.compute(type, query);
  } catch (error) {
    if (error instanceof AppError) throw error; // e.g. AnalyticsBusyError: already says what happened
    throw new DependencyUnavailableError("postgres", `The ${type} analytic could not be computed`, error);
  }
}
