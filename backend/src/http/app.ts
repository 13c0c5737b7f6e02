import express, { type Express, type Router } from "express";
import type { HealthRegistry } from "../health/health-registry.ts";
import type { ReadinessCheck } from "../health/readiness-checks.ts";
import { registryOfReadinessChecks } from "../health/service-health.ts";
import type { Logger } from "../logging/logger.ts";
import { withRouteBase } from "../monitoring/route-template.ts";
import { errorMiddleware, notFoundHandler } from "./error-middleware.ts";
import { healthRoutes } from "./health-routes.ts";
import { requestLog } from "./middleware/request-log.ts";
import { observeRequests, type RequestObserver } from "./middleware/request-observers.ts";
import { securityHeaders } from "./middleware/security-headers.ts";

/** What the HTTP app is built from; tests build their own. */
export interface AppDependencies {
  logger: Logger;
  /** Checks of GET /health/ready when no `health` registry is given (each critical, uncached). */
  readinessChecks: ReadinessCheck[];
  /** The health registry behind GET /health/ready (the service's: backend/src/health/service-health.ts). */
  health?: HealthRegistry;
  /** Per-check timeout for GET /health/ready in ms (default 1,000), with `readinessChecks`. */
  healthCheckTimeoutMs?: number;
  /** Routers mounted at a path after health and before the 404 handler (e.g. "/api"). */
  routers?: { path: string; router: Router }[];
  /** Passed to Express's "trust proxy" (default false). */
  trustProxy?: boolean;
  /** Told about every finished request, timed from its arrival: the HTTP metrics (see backend/src/monitoring). */
  requestMetrics?: RequestObserver;
  /** Which completed requests are logged (HTTP_SLOW_REQUEST_MS, HTTP_LOG_SAMPLE_RATE; defaults 1,000 ms and 0). */
  requestLog?: { slowMs?: number; sampleRate?: number };
}

/**
 * Builds the Express 5 app: security headers, metrics, request logging (slow or sampled requests only), health,
 * feature routers, 404 and errors. No body is parsed here: routes that take one mount `jsonBody()` after their
 * authentication (see middleware/json-body.ts), so a GET costs no body parsing and no one parses before a key check.
 */
export function createApp(deps: AppDependencies): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", deps.trustProxy ?? false);
  app.set("etag", "strong");
  app.use(securityHeaders());
  const log = requestLog({ logger: deps.logger, ...deps.requestLog });
  app.use(observeRequests([deps.requestMetrics, log].filter((observer) => observer !== undefined)));
  // Each router notes its mount path for metric labels (route templates, never raw URLs).
  app.use(
    "/health",
    withRouteBase(
      "/health",
      healthRoutes({
        registry: deps.health ?? registryOfReadinessChecks(deps.readinessChecks, deps.healthCheckTimeoutMs ?? 1_000),
      }),
    ),
  );
  for (const { path, router } of deps.routers ?? []) app.use(path, withRouteBase(path, router));
  app.use(notFoundHandler);
  app.use(errorMiddleware(deps.logger));
  return app;
}
