import { Router } from "express";
import type { HealthCheckResult } from "../health/health-check.ts";
import type { HealthRegistry } from "../health/health-registry.ts";

/**
 * GET /health: liveness (the process answers; no dependency is touched). GET /health/ready: every check of the
 * registry (each result reused for its cache TTL), 503 only when a critical check is down; each check with its
 * status, latency, attempts, age and error. Errors are stripped of host names, addresses and ports: this body is
 * public (the admin `GET /health/details` shows them whole).
 */
export function healthRoutes(options: { registry: HealthRegistry }): Router {
  const router = Router();
  const startedAt = Date.now();
  router.get("/", (_req, res) => {
    res.json({ status: "ok", uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) });
  });
  router.get("/ready", async (_req, res) => {
    const summary = await options.registry.runAll();
    const checks = Object.fromEntries(summary.checks.map((check) => [check.name, publicView(check)]));
    res.set("cache-control", "no-store");
    const body = { status: summary.status, failing: summary.failing, degraded: summary.degraded, checks };
    res.status(summary.failing.length > 0 ? 503 : 200).json(body);
  });
  return router;
}

function publicView(check: HealthCheckResult) {
  return {
    status: check.status,
    group: check.group,
    critical: check.critical,
    latencyMs: check.latencyMs,
    attempts: check.attempts,
    ageMs: check.ageMs,
    ...(check.error === undefined ? {} : { error: withoutAddresses(check.error) }),
    // A cluster's masters, named by slot range (redis-cluster-check.ts carries no host or port).
    ...(Array.isArray(check.details?.masters) ? { masters: check.details.masters } : {}),
  };
}

const ADDRESS =
  /\b(?:\d{1,3}(?:\.\d{1,3}){3}|\[?[0-9a-f]*:[0-9a-f:]+\]?(?=:\d)|localhost|(?:[a-z0-9-]+\.)+[a-z]{2,})(?::\d{1,5})?\b|(?<=port )\d{1,5}\b/gi;

/** An error message with IP addresses, host names and ports replaced by `<redacted>`. */
export function withoutAddresses(message: string): string {
  return message.replace(ADDRESS, "<redacted>");
}
