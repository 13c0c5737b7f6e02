import { Router, type RequestHandler } from "express";
import type { ApiKeyService } from "../auth/api-key-service.ts";
import { requireAdmin, requireApiKey } from "../http/middleware/require-api-key.ts";
import type { AlertMonitor } from "./alert-monitor.ts";

/** What the alerts router is built from. */
export interface AlertsRouterDependencies {
  monitor: Pick<AlertMonitor, "report">;
  /** Checks API keys; only admin-scoped keys pass. */
  auth: Pick<ApiKeyService, "authenticate">;
  /** Middleware run after authentication, before the admin check (the same rate limiter as the other admin routes). */
  afterAuth?: RequestHandler[];
}

/**
 * `GET /alerts` (mount at "/api/admin", before the admin cache router): every alert rule's state after the last
 * evaluation, `{alerts: [{id, severity, state, since, value, threshold, message, description}], evaluatedAt, webhook}`.
 * Admin API keys only (401/403 as the other admin routes). The guards sit on the route itself, so requests for other
 * admin paths pass through this router untouched and are authenticated once, by the router that serves them.
 */
export function alertsRouter(deps: AlertsRouterDependencies): Router {
  const router = Router();
  router.get("/alerts", requireApiKey(deps.auth), ...(deps.afterAuth ?? []), requireAdmin, (_req, res) => {
    res.set("Cache-Control", "no-store").json(deps.monitor.report());
  });
  return router;
}
