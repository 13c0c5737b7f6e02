import { createHash } from "node:crypto";
import { Router, type Request, type RequestHandler, type Response } from "express";
import { ANALYTICS_TYPES, isAnalyticsType } from "../analytics/analytics-catalog.ts";
import { parseAnalyticsParams } from "../analytics/analytics-params.ts";
import type { AnalyticsService } from "../analytics/analytics-service.ts";
import { rememberAnalytics } from "../analytics/cached-analytics.ts";
import { analyticDefinition } from "../analytics/definitions/index.ts";
import type { Authenticator } from "../auth/credential-authenticator.ts";
import type { Cache, CacheResult } from "../cache/cache-types.ts";
import { AnalyticsBusyError, DependencyUnavailableError, NotFoundError } from "../errors.ts";
import { CacheUnavailableError, FactoryHardTimeoutError } from "../cache/cache-errors.ts";
import { assertGuildAccess, requireApiKey } from "./middleware/require-api-key.ts";

/** What the analytics router is built from. */
export interface AnalyticsRouterDependencies {
  /** The cache layer (only `rememberWithMeta` is used). */
  cache: Pick<Cache, "rememberWithMeta">;
  /** Computes analytics from PostgreSQL on a miss. */
  analytics: AnalyticsService;
  /** Checks API keys and session tokens (docs/auth.md). */
  auth: Authenticator;
  /** Middleware run after authentication, before validation (e.g. `apiKeyRateLimit`). */
  afterAuth?: RequestHandler[];
  /** Clock (default `new Date()`), injectable for tests. */
  now?: () => Date;
  /** Stale-if-error horizon of each analytic's last good value (ANALYTICS_STALE_IF_ERROR_MS; default 6 h, 0 off). */
  staleIfErrorMs?: number;
}

/**
 * `GET /analytics/<type>?guildId=&since=&limit=` for every analytic of `ANALYTICS_TYPES` (mount at `/api`); POST the same.
 * API key -> validation (the analytic's `params`) -> guild scope -> `cache.rememberWithMeta` -> JSON with X-Cache, Age, ETag (304).
 */
export function analyticsRouter(deps: AnalyticsRouterDependencies): Router {
  const router = Router();
  const now = deps.now ?? (() => new Date());
  const serializer = new ResponseSerializer();
  // One object for every request: rememberAnalytics remembers each request's cache entry per dependencies object.
  const cached = { cache: deps.cache, analytics: deps.analytics, now, staleIfErrorMs: deps.staleIfErrorMs };
  // Scoped to /analytics so other routers mounted at /api are not authenticated or rate-limited twice.
  router.use("/analytics", requireApiKey(deps.auth), ...(deps.afterAuth ?? []));

  const serve = async (req: Request, res: Response) => {
    const type = req.params.type as string;
    if (!isAnalyticsType(type)) {
      throw new NotFoundError(`Unknown analytic "${type}": use one of ${ANALYTICS_TYPES.join(", ")}`);
    }
    const input = parseAnalyticsParams(analyticDefinition(type).params, req.query as Record<string, unknown>, now());
    assertGuildAccess(res, input.guildId);
    let result: CacheResult<unknown>;
    try {
      result = await rememberAnalytics(cached, type, input);
    } catch (error) {
      if (error instanceof AnalyticsBusyError) res.set("Retry-After", String(error.retryAfterSeconds));
      throw error;
    }
    const { body, etag } = serializer.serialize(result.value);
    setCacheHeaders(res, result, etag);
    // Only a conditional request can be fresh (the answer has an ETag and no Last-Modified): skip the check otherwise.
    if (req.headers["if-none-match"] !== undefined && req.fresh) {
      res.status(304).end();
      return;
    }
    // What res.send does with these bytes, without its checks that cannot apply here (type and ETag are set,
    // freshness was just decided). The memoized bytes are a Buffer: Express would copy a string of 1 kB or more.
    res.setHeader("Content-Type", JSON_CONTENT_TYPE);
    res.setHeader("Content-Length", body.length);
    if (req.method === "HEAD") res.end();
    else res.end(body);
  };
  router.get("/analytics/:type", serve);
  // Document 001's manual test uses `curl -X POST ".../api/analytics/ghosts?guildId=..."`: it answers like GET
  // (same query string, same cache entry; a body, if any, is ignored).
  router.post("/analytics/:type", serve);
  return router;
}

function setCacheHeaders(res: Response, result: CacheResult<unknown>, etag: string): void {
  res.setHeader("X-Cache", result.status.toUpperCase());
  res.setHeader("Age", String(Math.floor(result.ageMs / 1000)));
  res.setHeader("X-Cache-Age-Ms", String(Math.round(result.ageMs)));
  res.setHeader("Cache-Control", "private, no-cache");
  res.setHeader("ETag", etag);
  if (result.status !== "stale") return;
  // RFC 7234 warn-codes: 110 on every stale answer, 111 when it stands in for a computation that failed.
  res.set(
    "Warning",
    result.staleBecauseOfError
      ? ['110 - "Response is Stale"', '111 - "Revalidation Failed"']
      : '110 - "Response is Stale"',
  );
  res.set("X-Cache-Stale-Reason", staleReason(result));
}

/**
 * Why a stale value was served: "revalidating" (stale-while-revalidate: a refresh runs in the background) or what
 * made the computation fail: "<dependency>-unavailable" (e.g. postgres-unavailable), "analytics-busy" (the query
 * limit), "loader-timeout", "loader-failed", or "redis-unavailable" (this instance's in-process copy, served
 * while Redis is out instead of querying PostgreSQL).
 */
export function staleReason(result: CacheResult<unknown>): string {
  if (!result.staleBecauseOfError) return "revalidating";
  const error = result.loaderError;
  if (error instanceof DependencyUnavailableError) {
    const dependency = (error.details as { dependency?: string } | undefined)?.dependency;
    return `${dependency ?? "dependency"}-unavailable`;
  }
  if (error instanceof AnalyticsBusyError) return "analytics-busy";
  if (error instanceof CacheUnavailableError) return "redis-unavailable"; // the L1 copy, unverifiable while Redis is out
  // No error: the soft timeout passed (the computation still runs and fills the cache).
  if (error === undefined || error instanceof FactoryHardTimeoutError) return "loader-timeout";
  return "loader-failed";
}

/** What `res.type("application/json")` followed by `res.send(string)` sets. */
const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

/**
 * JSON bytes and ETag of a result, remembered per value object: an in-process cache hit returns the same object,
 * so the hot path skips JSON.stringify, UTF-8 encoding and hashing. Results are never mutated after they are computed.
 */
class ResponseSerializer {
  private readonly memo = new WeakMap<object, { body: Buffer; etag: string }>();

  serialize(value: unknown): { body: Buffer; etag: string } {
    const key = typeof value === "object" && value !== null ? value : undefined;
    const known = key && this.memo.get(key);
    if (known) return known;
    const body = Buffer.from(JSON.stringify(value));
    const etag = `"${createHash("sha1").update(body).digest("base64url")}"`;
    if (key) this.memo.set(key, { body, etag });
    return { body, etag };
  }
}
