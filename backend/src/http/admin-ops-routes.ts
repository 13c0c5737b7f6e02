import { Router, type RequestHandler, type Response } from "express";
import { z } from "zod";
import { guildTag } from "../analytics/analytics-catalog.ts";
import type { Authenticator } from "../auth/credential-authenticator.ts";
import { CacheUnavailableError } from "../cache/index.ts";
import { validatePart } from "../cache/keys/key-builder.ts";
import { AppError, CleanupRunningError, ValidationError } from "../errors.ts";
import type { HealthRegistry } from "../health/health-registry.ts";
import type { Logger } from "../logging/logger.ts";
import type { AlertMonitor } from "../monitoring/alert-monitor.ts";
import { logged } from "../ops/logged-invalidations.ts";
import type { OpsCache, ServiceOps } from "../ops/service-ops.ts";
import { userTag } from "../ops/user-tag.ts";
import { principalOf, requireAdmin, requireApiKey } from "./middleware/require-api-key.ts";

/** What the operators' extra routes are built from. */
export interface AdminOpsRouterDependencies {
  cache: OpsCache;
  ops: Pick<ServiceOps, "invalidationLog" | "scorer" | "scheduledCleanup" | "lockCounters" | "alertHistory">;
  health: HealthRegistry;
  alerts: Pick<AlertMonitor, "report">;
  auth: Authenticator;
  logger: Logger;
  afterAuth?: RequestHandler[];
}

const SNOWFLAKE = /^\d{17,20}$/;
/** Glob characters allowed in a pattern; anything else that would escape the namespace is refused. */
const PATTERN = /^[A-Za-z0-9_:.\-*?[\]^]+$/;
const MAX_PATTERN_LENGTH = 200;

const limitSchema = z.coerce
  .number({ error: "must be a number" })
  .int("must be an integer")
  .min(1, "must be at least 1")
  .max(1_000, "must be at most 1000");

/**
 * Operators' extra routes (mount at `/api/admin`, admin API keys only; each route guards itself so other admin
 * routers are untouched): the invalidation log, invalidation by key, pattern, guild or user, the metrics summary /
 * health / report and its reset, the scheduled cleanup (with a dry run) and a confirmed flush of this app's cache.
 * Every invalidation is written to the invalidation log. docs/operations.md shows each with curl.
 */
export function adminOpsRouter(deps: AdminOpsRouterDependencies): Router {
  const router = Router();
  const guard = [requireApiKey(deps.auth), ...(deps.afterAuth ?? []), requireAdmin];
  const causeOf = (res: Response) => {
    const principal = principalOf(res);
    return `admin key ${principal?.name ?? "?"} (${principal?.keyId ?? "?"})`;
  };
  const audit = (res: Response, action: string, input: object, outcome: object) => {
    const principal = principalOf(res);
    deps.logger.info(
      { admin: { keyId: principal?.keyId, name: principal?.name }, action, input, ...outcome },
      "admin action",
    );
  };

  router.get("/cache/invalidations", ...guard, async (req, res) => {
    const limit = parseQuery("limit", limitSchema, req.query.limit ?? "50");
    const guildId = req.query.guildId;
    if (guildId !== undefined && (typeof guildId !== "string" || !SNOWFLAKE.test(guildId)))
      throw invalid("guildId", "must be a Discord snowflake (17-20 digits)");
    const entries = await unavailableAs503(() =>
      deps.ops.invalidationLog.recent({ limit, ...(guildId ? { guildId } : {}) }),
    );
    res.set("cache-control", "no-store").json({ entries, limit, ...(guildId ? { guildId } : {}) });
  });

  router.delete("/monitoring/cache/invalidate", ...guard, async (req, res) => {
    const given = (["key", "pattern", "guildId", "userId"] as const).filter((name) => req.query[name] !== undefined);
    if (given.length !== 1) throw invalid("query", "give exactly one of key, pattern, guildId, userId");
    const field = given[0]!;
    const value = req.query[field];
    if (typeof value !== "string" || value.length === 0) throw invalid(field, "must be a non-empty string");
    const mode = parseMode(req.query.mode);
    const base = { source: "admin" as const, cause: causeOf(res) };
    let result: object;
    if (field === "key") {
      checkPart(field, value, "key");
      const deleted = await unavailableAs503(() =>
        logged(
          deps.ops.invalidationLog,
          { ...base, action: "key", tags: [], target: value, mode: "delete" },
          () => deps.cache.delete(value),
          (ok) => (ok ? 1 : 0),
        ),
      );
      result = { key: value, deleted };
    } else if (field === "pattern") {
      checkPattern(value);
      const deleted = await unavailableAs503(() =>
        logged(deps.ops.invalidationLog, { ...base, action: "pattern", tags: [], target: value, mode: "delete" }, () =>
          deps.cache.deleteByPattern(value),
        ),
      );
      result = { pattern: value, deleted };
    } else {
      if (!SNOWFLAKE.test(value)) throw invalid(field, "must be a Discord snowflake (17-20 digits)");
      const tag = field === "guildId" ? guildTag(value) : userTag(value);
      const extra = field === "guildId" ? { guildId: value } : { target: value };
      const outcome = await unavailableAs503(() =>
        logged(
          deps.ops.invalidationLog,
          { ...base, action: field === "guildId" ? "guild" : "user", tags: [tag], mode, ...extra },
          () => deps.cache.invalidateByTagsWithReport([tag], { mode }),
        ),
      );
      result = { [field]: value, tags: outcome.tags, entries: outcome.entries, mode };
    }
    audit(res, `cache.invalidate.${field}`, { [field]: value }, { outcome: "ok", result });
    res.json(result);
  });

  router.get("/monitoring/cache/metrics", ...guard, async (req, res) => {
    const type = req.query.type ?? "summary";
    if (type !== "summary" && type !== "health" && type !== "report")
      throw invalid("type", 'must be "summary", "health" or "report"');
    res.set("cache-control", "no-store");
    if (type === "summary") return void res.json(summary(deps));
    const [score, health] = await Promise.all([deps.ops.scorer.score(), deps.health.runAll()]);
    if (type === "health") return void res.json({ type, healthScore: score, health });
    const [stats, recentAlerts, recentInvalidations] = await Promise.all([
      deps.cache.getStats({ includeKeyspace: true }),
      deps.ops.alertHistory.recent(20).catch(() => null),
      deps.ops.invalidationLog.recent({ limit: 20 }).catch(() => null),
    ]);
    res.json({
      type,
      generatedAt: new Date().toISOString(),
      summary: summary(deps),
      healthScore: score,
      health,
      stats,
      alerts: deps.alerts.report(),
      recentAlerts,
      recentInvalidations,
    });
  });

  router.delete("/monitoring/cache/metrics", ...guard, (req, res) => {
    if (req.query.action !== "reset-metrics") throw invalid("action", 'must be "reset-metrics"');
    const reset = deps.ops.scorer.reset();
    audit(res, "cache.metrics.reset", {}, { outcome: "ok" });
    res.json({
      ...reset,
      note: "in-process summary counters start from zero; Prometheus counters and fleet totals are never reset",
    });
  });

  router.post("/monitoring/cache/cleanup", ...guard, async (req, res) => {
    const action = req.query.action;
    if (action === "scheduled") {
      const dryRun = parseBoolean("dryRun", req.query.dryRun);
      const run = await unavailableAs503(() => deps.ops.scheduledCleanup.runOnce({ dryRun }));
      if (!run.ran) throw new CleanupRunningError();
      audit(res, "cache.cleanup.scheduled", { dryRun }, { outcome: "ok", deleted: run.report.deleted });
      return void res.json(run.report);
    }
    if (action === "flush-all") {
      if (req.query.confirm !== "flush-all")
        throw invalid(
          "confirm",
          'must be "flush-all": this deletes every cache entry of this application (its prefix only)',
        );
      const deleted = await unavailableAs503(() =>
        logged(
          deps.ops.invalidationLog,
          { source: "admin", cause: causeOf(res), action: "clear", tags: [], mode: "delete" },
          () => deps.cache.clear(),
        ),
      );
      audit(res, "cache.flush-all", {}, { outcome: "ok", deleted });
      return void res.json({ deleted });
    }
    throw invalid("action", 'must be "scheduled" or "flush-all"');
  });
  return router;
}

function summary(deps: AdminOpsRouterDependencies) {
  const local = deps.cache.getLocalStats();
  return {
    type: "summary",
    sinceReset: deps.ops.scorer.sinceReset(),
    locks: deps.ops.lockCounters(),
    breaker: local.breaker,
    l1: local.l1,
    invalidation: local.invalidation,
    lastHealthScore: deps.ops.scorer.last() ?? null,
  };
}

/** Redis failing under an operators' read or write: 503 naming the cache instead of a 500. */
async function unavailableAs503<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof AppError) throw error;
    if (error instanceof CacheUnavailableError)
      throw new AppError(
        CacheUnavailableError.code,
        `${error.message}; retry later`,
        { dependency: "redis" },
        { cause: error },
      );
    if (
      error instanceof Error &&
      /ECONNREFUSED|Connection is closed|timed? ?out|did not answer|ETIMEDOUT|no Redis master/i.test(error.message)
    ) {
      throw new AppError(
        CacheUnavailableError.code,
        `Redis did not answer: ${error.message}`,
        { dependency: "redis" },
        { cause: error },
      );
    }
    throw error;
  }
}

function checkPart(field: string, value: string, what: "key" | "tag"): void {
  try {
    validatePart(value, what);
  } catch (error) {
    throw invalid(field, (error as Error).message);
  }
}

/** A glob over this app's entry namespace: allowed characters only, not only wildcards, not the internal `_sys` space. */
function checkPattern(pattern: string): void {
  if (pattern.length > MAX_PATTERN_LENGTH) throw invalid("pattern", `must be at most ${MAX_PATTERN_LENGTH} characters`);
  if (!PATTERN.test(pattern))
    throw invalid("pattern", "may contain letters, digits, _ : . - and the glob characters * ? [ ] ^ only");
  if (!/[A-Za-z0-9]/.test(pattern))
    throw invalid("pattern", "must name something besides wildcards (use action=flush-all to delete everything)");
  if (pattern.startsWith("_sys")) throw invalid("pattern", "may not address the cache's internal keys (_sys)");
  let depth = 0;
  for (const char of pattern) {
    if (char === "[") depth += 1;
    if (char === "]") depth -= 1;
    if (depth < 0 || depth > 1) throw invalid("pattern", "has unbalanced [ ]");
  }
  if (depth !== 0) throw invalid("pattern", "has unbalanced [ ]");
}

function parseMode(raw: unknown): "hard" | "soft" {
  if (raw === undefined) return "hard";
  if (raw === "hard" || raw === "soft") return raw;
  throw invalid("mode", 'must be "hard" or "soft"');
}

function parseBoolean(field: string, raw: unknown): boolean {
  if (raw === undefined || raw === "false") return false;
  if (raw === "true") return true;
  throw invalid(field, 'must be "true" or "false"');
}

function parseQuery<T extends z.ZodType>(field: string, schema: T, raw: unknown): z.infer<T> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw invalid(field, parsed.error.issues[0]?.message ?? "is invalid");
}

function invalid(field: string, message: string): ValidationError {
  return new ValidationError(`${field}: ${message}`, [{ field, message }]);
}
