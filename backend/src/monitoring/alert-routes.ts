import { Router, type RequestHandler } from "express";
import type { Authenticator } from "../auth/credential-authenticator.ts";
import { requireAdmin, requireApiKey } from "../http/middleware/require-api-key.ts";
import { ValidationError } from "../errors.ts";
import type { AlertHistory } from "../ops/alert-history.ts";
import type { AlertMonitor } from "./alert-monitor.ts";

/** What the alerts router is built from. */
export interface AlertsRouterDependencies {
  monitor: Pick<AlertMonitor, "report" | "evaluate">;
  /** The shared alert history (Redis), for `?action=recent`. */
  history?: Pick<AlertHistory, "recent">;
  /** Checks API keys and session tokens (docs/auth.md); only admin scope passes. */
  auth: Authenticator;
  /** Middleware run after authentication, before the admin check (the same rate limiter as the other admin routes). */
  afterAuth?: RequestHandler[];
}

/**
 * `GET /alerts` (mount at "/api/admin", before the admin cache router): every alert rule's state after the last
 * evaluation, `{alerts: [{id, severity, state, since, value, threshold, message, description}], evaluatedAt, webhook}`.
 * `?action=recent[&limit=50]`: the shared history, newest first (`{history: [...]}`, every instance's transitions);
 * `?action=monitor`: evaluates now and answers the report plus `newAlerts` (the rules that started firing).
 * Admin API keys only (401/403 as the other admin routes). The guards sit on the route itself, so requests for other
 * admin paths pass through this router untouched and are authenticated once, by the router that serves them.
 */
export function alertsRouter(deps: AlertsRouterDependencies): Router {
  const router = Router();
  router.get("/alerts", requireApiKey(deps.auth), ...(deps.afterAuth ?? []), requireAdmin, async (req, res) => {
    res.set("Cache-Control", "no-store");
    const action = req.query.action;
    if (action === undefined) return void res.json(deps.monitor.report());
    if (action === "monitor") {
      const before = new Set(
        deps.monitor
          .report()
          .alerts.filter((alert) => alert.state === "firing")
          .map((alert) => alert.id),
      );
      const report = await deps.monitor.evaluate();
      return void res.json({
        ...report,
        newAlerts: report.alerts.filter((alert) => alert.state === "firing" && !before.has(alert.id)),
      });
    }
    if (action === "recent" && deps.history) {
      const raw = req.query.limit ?? "50";
      const limit = Number(raw);
      if (typeof raw !== "string" || !/^\d+$/.test(raw) || limit < 1 || limit > 1_000)
        throw new ValidationError("limit: must be an integer from 1 to 1000", [
          { field: "limit", message: "must be an integer from 1 to 1000" },
        ]);
      return void res.json({ history: await deps.history.recent(limit) });
    }
    throw new ValidationError('action: must be "recent" or "monitor"', [
      { field: "action", message: 'must be "recent" or "monitor"' },
    ]);
  });
  return router;
}
