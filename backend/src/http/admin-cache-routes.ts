import { Router, type RequestHandler, type Response } from "express";
import { z } from "zod";
import { ANALYTICS_TYPES, guildAnalyticsTag, guildTag } from "../analytics/analytics-catalog.ts";
import type { Authenticator } from "../auth/credential-authenticator.ts";
import { CacheUnavailableError, type SpyCache } from "../cache/index.ts";
import { validatePart } from "../cache/keys/key-builder.ts";
import { AppError, ValidationError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import { cacheHealthStatus, type CacheStatusThresholds } from "../monitoring/cache-health-status.ts";
import { jsonBody } from "./middleware/json-body.ts";
import { principalOf, requireAdmin, requireApiKey } from "./middleware/require-api-key.ts";

/** What the admin cache router is built from. */
export interface AdminCacheRouterDependencies {
  /** The cache layer: stats, tag invalidation, purge by tag, clear. */
  cache: Pick<SpyCache, "getStats" | "invalidateByTagsWithReport" | "purgeTag" | "clear">;
  /** Thresholds of the monitoring route's `status` (default: 80 % hit rate after 100 lookups, 2 GiB). */
  statusThresholds?: CacheStatusThresholds;
  /** Checks API keys and session tokens (docs/auth.md); only admin scope passes. */
  auth: Authenticator;
  /** Every admin action is logged here at info, with the key's id and name (never its secret). */
  logger: Logger;
  /** Fleet-wide session counts, shown as `sessions` in the stats answer (omitted when not given or Redis fails). */
  sessionCounts?: () => Promise<unknown>;
  /** Middleware run after authentication, before the admin check (e.g. the same `apiKeyRateLimit` as /api). */
  afterAuth?: RequestHandler[];
  /** The cache health score shown in the stats answer as `healthScore` (backend/src/ops/cache-health-scorer.ts). */
  healthScore?: () => Promise<object>;
}

/** Most tags one invalidation accepts. */
export const MAX_TAGS_PER_INVALIDATION = 100;
const MAX_TAG_LENGTH = 200;

const tagSchema = z
  .string({ error: "must be a string" })
  .min(1, "must not be empty")
  .max(MAX_TAG_LENGTH, `must be at most ${MAX_TAG_LENGTH} characters`)
  .superRefine((tag, ctx) => {
    if (tag.length === 0) return; // already reported by min(1)
    try {
      validatePart(tag, "tag");
    } catch {
      ctx.addIssue({
        code: "custom",
        message: "may not contain whitespace, control characters or any of * ? [ ] { } \\",
      });
    }
  });
const modeSchema = z.enum(["hard", "soft"], { error: 'must be "hard" or "soft"' }).default("hard");
const byTagsSchema = z.strictObject({
  tags: z
    .array(tagSchema, { error: "is required: a list of tags (or send guildId instead)" })
    .min(1, "must list at least one tag")
    .max(MAX_TAGS_PER_INVALIDATION, `must list at most ${MAX_TAGS_PER_INVALIDATION} tags`),
  mode: modeSchema,
});
const byGuildSchema = z.strictObject({
  guildId: z.string({ error: "must be a string" }).regex(/^\d{17,20}$/, "must be a Discord snowflake (17-20 digits)"),
  types: z
    .array(z.enum(ANALYTICS_TYPES, { error: `must be one of ${ANALYTICS_TYPES.join(", ")}` }), {
      error: "must be a list of analytics types",
    })
    .min(1, "must list at least one analytics type (or leave types out for all of them)")
    .optional(),
  mode: modeSchema,
});
const purgeSchema = z.strictObject({ tag: tagSchema });

/**
 * Operators' cache routes (mount at `/api/admin`), admin API keys only (401 without or with an unknown key, 403 for
 * a guild-scoped key). Document 001's forms: `GET /monitoring/cache/stats`, `DELETE /monitoring/cache/clear`,
 * `DELETE /monitoring/cache/invalidate/:tag`; the richer forms: `GET /cache/stats[?keyspace=false]`,
 * `POST /cache/invalidate`, `POST /cache/purge`, `DELETE /cache?confirm=yes`. Both forms run the same actions below.
 * While Redis is unavailable the writes answer 503 E_CACHE_UNAVAILABLE (stats still answers with what this instance
 * knows). docs/admin.md describes bodies and answers.
 */
export function adminCacheRouter(deps: AdminCacheRouterDependencies): Router {
  const router = Router();
  router.use(requireApiKey(deps.auth), ...(deps.afterAuth ?? []), requireAdmin, jsonBody());
  const audit = (res: Response, action: string, input: object, outcome: object) => {
    const principal = principalOf(res);
    deps.logger.info(
      { admin: { keyId: principal?.keyId, name: principal?.name }, action, input, ...outcome },
      "admin action",
    );
  };
  // Logs the action whatever its outcome, and turns "Redis is unavailable" into a 503 naming the cache.
  const act = async <T extends object>(
    res: Response,
    action: string,
    input: object,
    run: () => Promise<T>,
  ): Promise<T> => {
    try {
      const result = await run();
      audit(res, action, input, { outcome: "ok", result });
      return result;
    } catch (error) {
      audit(res, action, input, { outcome: "failed", code: (error as { code?: unknown }).code ?? "E_INTERNAL" });
      if (error instanceof CacheUnavailableError) {
        throw new AppError(
          CacheUnavailableError.code,
          `${error.message}; nothing is guaranteed to have changed, retry later`,
          { dependency: "redis" },
          { cause: error },
        );
      }
      throw error;
    }
  };

  // The actions both forms of the routes share.
  const clear = async (res: Response) =>
    (await act(res, "cache.clear", { confirm: "yes" }, async () => ({ deleted: await deps.cache.clear() }))).deleted;
  const invalidate = (res: Response, input: { tags: string[]; mode: "hard" | "soft" }) =>
    act(res, "cache.invalidate", input, () => deps.cache.invalidateByTagsWithReport(input.tags, { mode: input.mode }));

  router.get("/monitoring/cache/stats", async (_req, res) => {
    const stats = await deps.cache.getStats();
    const { status, reasons } = cacheHealthStatus(stats, deps.statusThresholds);
    audit(res, "cache.stats", { keyspace: true }, { outcome: "ok" });
    const { hits, misses, hitRate, memoryUsed, evictedKeys, keyCount } = stats;
    res.set("Cache-Control", "no-store").json({
      stats: { hits, misses, hitRate, memoryUsed, evictedKeys, keyCount },
      status,
      timestamp: new Date().toISOString(),
      reasons,
      details: stats,
    });
  });

  router.delete("/monitoring/cache/clear", async (_req, res) => {
    res.json({ deleted: await clear(res) });
  });

  router.delete("/monitoring/cache/invalidate/:tag", async (req, res) => {
    // Express has already URL-decoded the path parameter ("guild%3A1" is "guild:1").
    const { tag } = parse(purgeSchema, { tag: req.params.tag });
    const result = await invalidate(res, { tags: [tag], mode: "hard" });
    res.json({ tag, invalidated: result.entries });
  });

  router.get("/cache/stats", async (req, res) => {
    const keyspace = req.query.keyspace;
    if (keyspace !== undefined && keyspace !== "true" && keyspace !== "false") {
      throw new ValidationError('keyspace: must be "true" or "false"', [
        { field: "keyspace", message: 'must be "true" or "false"' },
      ]);
    }
    const includeKeyspace = keyspace !== "false";
    const [stats, healthScore, sessions] = await Promise.all([
      deps.cache.getStats({ includeKeyspace }),
      deps.healthScore?.(),
      deps.sessionCounts?.().catch(() => undefined),
    ]);
    audit(res, "cache.stats", { keyspace: includeKeyspace }, { outcome: "ok" });
    res
      .set("Cache-Control", "no-store")
      .json({ ...stats, ...(healthScore ? { healthScore } : {}), ...(sessions === undefined ? {} : { sessions }) });
  });

  router.post("/cache/invalidate", async (req, res) => {
    const input = parseInvalidation(req.body);
    const result = await invalidate(res, input);
    res.json({ ...result, mode: input.mode });
  });

  router.post("/cache/purge", async (req, res) => {
    const { tag } = parse(purgeSchema, req.body);
    const result = await act(res, "cache.purge", { tag }, () => deps.cache.purgeTag(tag));
    res.json({ tag, deleted: result.deleted, scanned: result.scanned, invalidatedEntries: result.invalidated.entries });
  });

  router.delete("/cache", async (req, res) => {
    if (req.query.confirm !== "yes") {
      const message = 'must be "yes": this deletes every cache entry of this service';
      throw new ValidationError(`confirm: ${message}`, [{ field: "confirm", message }]);
    }
    res.json({ deleted: await clear(res) });
  });
  return router;
}

/** The tags and mode of an invalidation body: `{tags, mode}`, or `{guildId, types?, mode}` mapped to that guild's tags. */
function parseInvalidation(body: unknown): {
  tags: string[];
  mode: "hard" | "soft";
  guildId?: string;
  types?: string[];
} {
  const fields = isObject(body) ? body : {};
  if ("tags" in fields && "guildId" in fields) {
    const message = "send either tags or guildId (with optional types), not both";
    throw new ValidationError(`tags: ${message}`, [{ field: "tags", message }]);
  }
  if (!("guildId" in fields)) return parse(byTagsSchema, body);
  const { guildId, types, mode } = parse(byGuildSchema, body);
  // Without types: the guild tag every analytic of the guild carries; with types: exactly those analytics.
  const tags = types ? [...new Set(types)].map((type) => guildAnalyticsTag(type, guildId)) : [guildTag(guildId)];
  return { tags, mode, guildId, ...(types ? { types } : {}) };
}

/** Parses a JSON body, or throws a 400 whose details name each bad field. */
function parse<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (!isObject(body)) {
    const message = "must be a JSON object (send Content-Type: application/json)";
    throw new ValidationError(`body: ${message}`, [{ field: "body", message }]);
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((issue) => ({
    field: issue.code === "unrecognized_keys" ? issue.keys.join(", ") : issue.path.join(".") || "body",
    message: issue.code === "unrecognized_keys" ? "is not a known field" : issue.message,
  }));
  throw new ValidationError(details.map((detail) => `${detail.field}: ${detail.message}`).join("; "), details);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
