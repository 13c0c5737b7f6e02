import { createHash } from "node:crypto";
import { Router, type Request, type RequestHandler, type Response } from "express";
import { z } from "zod";
import { ANALYTICS_TYPES, isAnalyticsType } from "../analytics/analytics-catalog.ts";
import type { AnalyticsService } from "../analytics/analytics-service.ts";
import { DEFAULT_LIMIT, MAX_LIMIT } from "../analytics/analytics-types.ts";
import { parseSince } from "../analytics/analytics-window.ts";
import { rememberAnalytics } from "../analytics/cached-analytics.ts";
import type { ApiKeyService } from "../auth/api-key-service.ts";
import type { Cache, CacheResult } from "../cache/cache-types.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import { assertGuildAccess, requireApiKey } from "./middleware/require-api-key.ts";

/** What the analytics router is built from. */
export interface AnalyticsRouterDependencies {
  /** The cache layer (only `rememberWithMeta` is used). */
  cache: Pick<Cache, "rememberWithMeta">;
  /** Computes analytics from PostgreSQL on a miss. */
  analytics: AnalyticsService;
  /** Checks API keys. */
  auth: Pick<ApiKeyService, "authenticate">;
  /** Middleware run after authentication, before validation (e.g. `apiKeyRateLimit`). */
  afterAuth?: RequestHandler[];
  /** Clock (default `new Date()`), injectable for tests. */
  now?: () => Date;
}

/** Query string of every analytics route. Built once: building a zod object per request costs ~0.3 ms. */
const querySchema = z.object({
  guildId: z.string({ error: "is required" }).regex(/^\d{17,20}$/, "must be a Discord snowflake (17-20 digits)"),
  since: z.string({ error: "must be a single value" }).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT),
});

/** Validates the query string against the request's time; a 400 lists every bad field, `since` included. */
function parseQuery(raw: Record<string, unknown>, now: Date): { guildId: string; since: Date; limit: number } {
  const parsed = querySchema.safeParse(raw);
  const issues = parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({ field: issue.path.join(".") || "query", message: issue.message }));
  // A repeated `since` (an array) is already among the zod issues; a single one is parsed against `now`.
  const since = typeof raw.since === "string" || raw.since === undefined ? parseSince(raw.since, now) : undefined;
  if (since && !since.ok) issues.push({ field: "since", message: since.message });
  if (!parsed.success || !since?.ok) {
    throw new ValidationError(issues.map((issue) => `${issue.field}: ${issue.message}`).join("; "), issues);
  }
  return { guildId: parsed.data.guildId, since: since.since, limit: parsed.data.limit };
}

/**
 * `GET /analytics/{ghosts,lurkers,heatmap,roles,clients,shifts}?guildId=&since=&limit=` (mount at `/api`); POST the same.
 * API key -> validation -> guild scope -> `cache.rememberWithMeta` -> JSON with X-Cache, Age, ETag (304).
 */
export function analyticsRouter(deps: AnalyticsRouterDependencies): Router {
  const router = Router();
  const now = deps.now ?? (() => new Date());
  const serializer = new ResponseSerializer();
  // Scoped to /analytics so other routers mounted at /api are not authenticated or rate-limited twice.
  router.use("/analytics", requireApiKey(deps.auth), ...(deps.afterAuth ?? []));

  const serve = async (req: Request, res: Response) => {
    const type = req.params.type as string;
    if (!isAnalyticsType(type)) {
      throw new NotFoundError(`Unknown analytic "${type}": use one of ${ANALYTICS_TYPES.join(", ")}`);
    }
    const input = parseQuery(req.query as Record<string, unknown>, now());
    assertGuildAccess(res, input.guildId);
    const result = await rememberAnalytics({ cache: deps.cache, analytics: deps.analytics, now }, type, input);
    const { body, etag } = serializer.serialize(result.value);
    setCacheHeaders(res, result, etag);
    if (req.fresh) {
      res.status(304).end();
      return;
    }
    res.type("application/json").send(body);
  };
  router.get("/analytics/:type", serve);
  // Document 001's manual test uses `curl -X POST ".../api/analytics/ghosts?guildId=..."`: it answers like GET
  // (same query string, same cache entry; a body, if any, is ignored).
  router.post("/analytics/:type", serve);
  return router;
}

function setCacheHeaders(res: Response, result: CacheResult<unknown>, etag: string): void {
  res.set({
    "X-Cache": result.status.toUpperCase(),
    Age: String(Math.floor(result.ageMs / 1000)),
    "X-Cache-Age-Ms": String(Math.round(result.ageMs)),
    "Cache-Control": "private, no-cache",
    ETag: etag,
  });
}

/**
 * JSON text and ETag of a result, remembered per value object: an in-process cache hit returns the same object,
 * so the hot path skips JSON.stringify and hashing. Results are never mutated after they are computed.
 */
class ResponseSerializer {
  private readonly memo = new WeakMap<object, { body: string; etag: string }>();

  serialize(value: unknown): { body: string; etag: string } {
    const key = typeof value === "object" && value !== null ? value : undefined;
    const known = key && this.memo.get(key);
    if (known) return known;
    const body = JSON.stringify(value);
    const etag = `"${createHash("sha1").update(body).digest("base64url")}"`;
    if (key) this.memo.set(key, { body, etag });
    return { body, etag };
  }
}
