import { Router } from "express";
import { runReadinessChecks, type ReadinessCheck } from "../health/readiness-checks.ts";

/**
 * GET /health: liveness (the process answers). GET /health/ready: every dependency checked with a timeout;
 * 503 naming each failing check.
 */
export function healthRoutes(options: { checks: ReadinessCheck[]; timeoutMs: number }): Router {
  const router = Router();
  const startedAt = Date.now();
  router.get("/", (_req, res) => {
    res.json({ status: "ok", uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) });
  });
  router.get("/ready", async (_req, res) => {
    const outcomes = await runReadinessChecks(options.checks, options.timeoutMs);
    const failing = outcomes.filter((outcome) => outcome.status === "down").map((outcome) => outcome.name);
    const checks = Object.fromEntries(outcomes.map(({ name, ...rest }) => [name, rest]));
    res.set("cache-control", "no-store");
    if (failing.length) {
      res.status(503).json({ status: "unavailable", failing, checks });
      return;
    }
    res.json({ status: "ready", checks });
  });
  return router;
}
