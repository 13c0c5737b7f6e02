import { createHash } from "node:crypto";
import { Router, type Request, type RequestHandler, type Response } from "express";
import { ANALYTICS_TYPES, type AnalyticsType, isAnalyticsType } from "../analytics/analytics-catalog.ts";
import { type ParsedAnalyticsParams, parseAnalyticsParams } from "../analytics/analytics-params.ts";
import type { AnalyticsService } from "../analytics/analytics-service.ts";
import { peekAnalytics, rememberAnalytics } from "../analytics/cached-analytics.ts";
import { analyticDefinition } from "../analytics/definitions/index.ts";
import type { Authenticator } from "../auth/credential-authenticator.ts";
import type { Cache, CacheResult } from "../cache/cache-types.ts";
import { AnalyticsBusyError, DependencyUnavailableError, NotFoundError } from "../errors.ts";
import { CacheUnavailableError, FactoryHardTimeoutError } from "../cache/cache-errors.ts";
import type { FastPath, FastPathContext } from "./app.ts";
import { assertGuildAccess, bearerSecret, requireApiKey } from "./middleware/require-api-key.ts";
import { canAccessGuild } from "../auth/principal.ts";

/** What the analytics router is built from. */
export interface AnalyticsRouterDependencies {
  /** The cache layer: `rememberWithMeta`, and `peekWithMeta` (the synchronous in-process answer) when it has one. */
  cache: Pick<Cache, "rememberWithMeta"> & Partial<Pick<Cache, "peekWithMeta">>;
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
 * An in-process answer (a fresh hit, or the copy served while Redis is out) is answered in the request's own tick (`peekWithMeta`: no promise, no microtask hop).
 */
export function analyticsRouter(deps: AnalyticsRouterDependencies): Router {
  const router = Router();
  const analytics = analyticsCore(deps);
  // Scoped to /analytics so other routers mounted at /api are not authenticated or rate-limited twice.
  router.use("/analytics", requireApiKey(deps.auth), ...(deps.afterAuth ?? []));
  // Synchronous up to the cache; anything but an in-process answer awaits the cache's full path.
  const serve = (req: Request, res: Response): Promise<void> | undefined => {
    const type = req.params.type as string;
    if (!isAnalyticsType(type)) {
      throw new NotFoundError(`Unknown analytic "${type}": use one of ${ANALYTICS_TYPES.join(", ")}`);
    }
    const input = analytics.parse(type, req);
    assertGuildAccess(res, input.guildId);
    const hit = analytics.peek(type, input);
    if (hit !== undefined) {
      analytics.answer(req, res, hit);
      return undefined;
    }
    return analytics.remember(type, input).then(
      (result) => analytics.answer(req, res, result),
      (error: unknown) => {
        if (error instanceof AnalyticsBusyError) res.set("Retry-After", String(error.retryAfterSeconds));
        throw error;
      },
    );
  };
  router.get("/analytics/:type", serve);
  // Document 001's manual test uses `curl -X POST ".../api/analytics/ghosts?guildId=..."`: it answers like GET
  // (same query string, same cache entry; a body, if any, is ignored).
  router.post("/analytics/:type", serve);
  return router;
}

/**
 * The fast path of `GET <basePath>/analytics/<type>` (for `createApp({fastPath})`): it answers, before any router
 * is walked, exactly the requests the router above would answer 200 from the cache's in-process answer (`peek`: a
 * fresh hit, or this process's copy while the key's master is out, stale), and leaves every
 * other request untouched for the full pipeline (returns false). Its conditions, each decided without I/O: a GET
 * of a known analytic spelled as routed, a Bearer credential the authenticator vouches for from memory (`known`),
 * no middleware after authentication (a rate limit needs the full pipeline), a valid query string, a guild the key
 * may read, and an in-process answer. Anything it cannot decide goes the long way, which says why.
 */
export function analyticsFastPath(
  deps: AnalyticsRouterDependencies,
  basePath = "/api",
): ((context: FastPathContext) => FastPath) | undefined {
  const known = deps.auth.known?.bind(deps.auth);
  if ((deps.afterAuth?.length ?? 0) > 0 || known === undefined) return undefined;
  const analytics = analyticsCore(deps);
  const prefix = `${basePath}/analytics/`;
  const template = `${basePath}/analytics/:type`;
  return (context) => (req, res, started) => {
    // A conditional request may be a 304: the router decides those.
    if (req.method !== "GET" || req.headers["if-none-match"] !== undefined) return false;
    const path = req.path;
    if (!path.startsWith(prefix)) return false;
    const type = path.slice(prefix.length);
    if (!isAnalyticsType(type)) return false;
    const secret = bearerSecret(req);
    const principal = secret === undefined ? undefined : known(secret);
    if (principal === undefined) return false;
    let input: ParsedAnalyticsParams;
    try {
      input = analytics.parse(type, req);
    } catch {
      return false; // the router answers the 400 (and logs it)
    }
    if (!canAccessGuild(principal, input.guildId)) return false;
    const answer = analytics.peek(type, input);
    if (answer === undefined) return false;
    res.locals.principal = principal;
    // One writeHead with every header (security headers first, as the app's middleware sets them): no per-header
    // setHeader bookkeeping. The same headers, values and body as the router's answer (a test compares them).
    const { body, etag } = analytics.serialize(answer.value);
    res.writeHead(200, answerHeaders(context.securityHeaders, answer, etag, body.length));
    res.end(body);
    context.answered(req, res, started, template);
    return true;
  };
}

/** What the router and the fast path share: one serializer, one entry memo, one clock. */
function analyticsCore(deps: AnalyticsRouterDependencies) {
  const now = deps.now ?? (() => new Date());
  const serializer = new ResponseSerializer();
  // One object for every request: rememberAnalytics remembers each request's cache entry per dependencies object.
  const cached = { cache: deps.cache, analytics: deps.analytics, now, staleIfErrorMs: deps.staleIfErrorMs };
  // Parsed query strings of relative windows (`24h`, the default `7d`), remembered for the minute they were parsed
  // in: within a minute they name the same window start (every unit is whole minutes, and windows start on a minute),
  // so a repeated request skips the query parser and zod. Absolute times are parsed every time (their "in the past"
  // and "at most 90 days ago" checks move with the clock).
  const parsed = new Map<string, { minute: number; input: ParsedAnalyticsParams }>();
  return {
    parse(type: AnalyticsType, req: Request): ParsedAnalyticsParams {
      const at = now();
      const minute = Math.floor(at.getTime() / 60_000);
      // Keyed by the URL as sent: it names the analytic and the query string, and costs no new string.
      const id = req.originalUrl;
      const known = parsed.get(id);
      if (known !== undefined && known.minute === minute) return known.input;
      const input = parseAnalyticsParams(analyticDefinition(type).params, req.query as Record<string, unknown>, at);
      if (RELATIVE_WINDOW.test(input.window)) {
        if (parsed.size >= PARSED_MEMO_MAX) parsed.clear();
        parsed.set(id, { minute, input });
      }
      return input;
    },
    peek: (type: AnalyticsType, input: ParsedAnalyticsParams) => peekAnalytics(cached, type, input),
    remember: (type: AnalyticsType, input: ParsedAnalyticsParams) => rememberAnalytics(cached, type, input),
    serialize: (value: unknown) => serializer.serialize(value),
    answer(req: Request, res: Response, result: CacheResult<unknown>): void {
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
    },
  };
}

/**
 * Every header of a fast-path answer, flat for `writeHead`: the security headers, then what `setCacheHeaders` and
 * `answer` set, in that order. Copied from a template per security-header list (one allocation).
 */
function answerHeaders(
  securityHeaders: readonly string[],
  result: CacheResult<unknown>,
  etag: string,
  length: number,
): string[] {
  let template = headerTemplates.get(securityHeaders);
  if (template === undefined) {
    template = [
      ...securityHeaders,
      "X-Cache",
      "",
      "Age",
      "",
      "X-Cache-Age-Ms",
      "",
      "Cache-Control",
      CACHE_CONTROL,
      "ETag",
      "",
      "Content-Type",
      JSON_CONTENT_TYPE,
      "Content-Length",
      "",
    ];
    headerTemplates.set(securityHeaders, template);
  }
  const headers = template.slice();
  const at = securityHeaders.length;
  headers[at + 1] = result.status.toUpperCase();
  headers[at + 3] = String(Math.floor(result.ageMs / 1000));
  headers[at + 5] = String(Math.round(result.ageMs));
  headers[at + 9] = etag;
  headers[at + 13] = String(length);
  // A stale answer (this process's copy while Redis is out): what setCacheHeaders adds after the ETag.
  if (result.status === "stale") headers.splice(at + 10, 0, ...staleHeaders(result));
  return headers;
}
const headerTemplates = new WeakMap<readonly string[], string[]>();

function setCacheHeaders(res: Response, result: CacheResult<unknown>, etag: string): void {
  res.setHeader("X-Cache", result.status.toUpperCase());
  res.setHeader("Age", String(Math.floor(result.ageMs / 1000)));
  res.setHeader("X-Cache-Age-Ms", String(Math.round(result.ageMs)));
  res.setHeader("Cache-Control", CACHE_CONTROL);
  res.setHeader("ETag", etag);
  if (result.status !== "stale") return;
  res.set("Warning", result.staleBecauseOfError ? WARN_FAILED : WARN_STALE);
  res.set("X-Cache-Stale-Reason", staleReason(result));
}

/** RFC 7234 warn-codes: 110 on every stale answer, 111 when it stands in for a computation that failed. */
const WARN_STALE = '110 - "Response is Stale"';
const WARN_FAILED = [WARN_STALE, '111 - "Revalidation Failed"'];

/** The headers setCacheHeaders adds to a stale answer, flat for `writeHead` (one line per Warning value). */
function staleHeaders(result: CacheResult<unknown>): string[] {
  const reason = ["X-Cache-Stale-Reason", staleReason(result)];
  return result.staleBecauseOfError
    ? ["Warning", WARN_FAILED[0]!, "Warning", WARN_FAILED[1]!, ...reason]
    : ["Warning", WARN_STALE, ...reason];
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

/** A relative window as `parseSince` reads it (a number of minutes, hours or days). */
const RELATIVE_WINDOW = /^\d{1,6}[mhd]$/;
/** Distinct query strings remembered before the memo starts over. */
const PARSED_MEMO_MAX = 1_000;

/** Analytics answers may be kept by the client, private to it, and revalidated (ETag) before each use. */
const CACHE_CONTROL = "private, no-cache";

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
