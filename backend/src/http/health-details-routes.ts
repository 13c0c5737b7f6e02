import { Router, type RequestHandler } from "express";
import type { Authenticator } from "../auth/credential-authenticator.ts";
import type { HealthRegistry } from "../health/health-registry.ts";
import { requireAdmin, requireApiKey } from "./middleware/require-api-key.ts";

/** What the health details router is built from. */
export interface HealthDetailsRouterDependencies {
  registry: HealthRegistry;
  /** Checks API keys and session tokens (docs/auth.md). */
  auth: Authenticator;
  afterAuth?: RequestHandler[];
}

/**
 * `GET /details[?fresh=true]` (mount at "/health"), admin API keys only: the whole registry, each check's definition
 * (group, timeout, retry policy, cache TTL, priority, critical) and its latest result with full errors and details.
 * `fresh=true` probes every check now instead of reusing cached results.
 */
export function healthDetailsRouter(deps: HealthDetailsRouterDependencies): Router {
  const router = Router();
  router.get("/details", requireApiKey(deps.auth), ...(deps.afterAuth ?? []), requireAdmin, async (req, res) => {
    const summary = await deps.registry.runAll({ fresh: req.query.fresh === "true" });
    const definitions = new Map(deps.registry.list().map((definition) => [definition.name, definition]));
    const checks = summary.checks.map((result) => {
      const { timeoutMs, retry, cacheTtlMs } = definitions.get(result.name)!;
      return { ...result, timeoutMs, retry, cacheTtlMs };
    });
    res.set("cache-control", "no-store").json({ ...summary, checks });
  });
  return router;
}
