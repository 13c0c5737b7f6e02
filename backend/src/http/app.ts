import express, { type Express, type Request, type Response, type Router } from "express";
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

/**
 * A fast path, tried before any router for every request: it either answers the request completely and returns
 * true, or returns false having changed nothing (no header, no status, no listener), and the request goes through
 * the full pipeline. It must apply what the app applies to every answer, with what `FastPathContext` gives it.
 */
export type FastPath = (req: Request, res: Response, started: number) => boolean;

/** What the app gives its fast path (see `createApp`'s `fastPath`). */
export interface FastPathContext {
  /** The security headers every answer carries, as a flat `[name, value, ...]` list for `res.writeHead`. */
  securityHeaders: readonly string[];
  /**
   * Tells the app's observers (metrics, request log) about a request the fast path answered synchronously, timed
   * from `started` (`performance.now()` at its arrival) to now, under `routeTemplate` (a metric label).
   */
  answered(req: Request, res: Response, started: number, routeTemplate: string): void;
}

/** What the HTTP app is built from; tests build their own. */
export interface AppDependencies {
  logger: Logger;
  /** Checks of GET /health/ready when no `health` registry is given (each critical, uncached). */
  readinessChecks: ReadinessCheck[];
  /** The health registry behind GET /health/ready (the service's: backend/src/health/service-health.ts). */
  health?: HealthRegistry;
  /** Per-check timeout for GET /health/ready in ms (default 1,000), with `readinessChecks`. */
  healthCheckTimeoutMs?: number;
  /** Builds the fast path tried first for every request (see FastPath): the busiest answers skip the router walk. */
  fastPath?: (context: FastPathContext) => FastPath;
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
  const headers = securityHeaders();
  const log = requestLog({ logger: deps.logger, ...deps.requestLog });
  const observers = [deps.requestMetrics, log].filter((observer) => observer !== undefined);
  if (deps.fastPath) {
    const fastPath = deps.fastPath({
      securityHeaders: headers.flat,
      answered(req, res, started, routeTemplate) {
        res.locals.routeTemplate = routeTemplate;
        const elapsedMs = performance.now() - started;
        // Handed to the socket in this tick; a client gone by now shows as a destroyed response.
        const completed = !res.destroyed;
        for (const observe of observers) observe(req, res, elapsedMs, completed);
      },
    });
    app.use((req, res, next) => {
      if (!fastPath(req, res, performance.now())) next();
    });
  }
  app.use(headers);
  app.use(observeRequests(observers));
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
