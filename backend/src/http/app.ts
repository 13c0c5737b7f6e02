import express, { type Express, type RequestHandler, type Router } from "express";
import { pinoHttp } from "pino-http";
import type { HealthRegistry } from "../health/health-registry.ts";
import type { ReadinessCheck } from "../health/readiness-checks.ts";
import { registryOfReadinessChecks } from "../health/service-health.ts";
import type { Logger } from "../logging/logger.ts";
import { noteRouteBase } from "../monitoring/route-template.ts";
import { errorMiddleware, notFoundHandler } from "./error-middleware.ts";
import { healthRoutes } from "./health-routes.ts";

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
  /** Middleware run first on every request, e.g. the HTTP metrics timer (see backend/src/monitoring). */
  requestMetrics?: RequestHandler;
}

/** Builds the Express 5 app: request logging, JSON body parsing, health, feature routers, 404 and errors. */
export function createApp(deps: AppDependencies): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", deps.trustProxy ?? false);
  app.set("etag", "strong");
  if (deps.requestMetrics) app.use(deps.requestMetrics);
  app.use(
    pinoHttp({
      logger: deps.logger,
      autoLogging: { ignore: (req) => req.url?.startsWith("/health") ?? false },
      customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? "error" : "info"),
    }),
  );
  app.use(express.json({ limit: "100kb" }));
  // noteRouteBase before each router keeps its mount path for metric labels (route templates, never raw URLs).
  app.use("/health", noteRouteBase("/health"), healthRoutes({ registry: deps.health ?? registryOfReadinessChecks(deps.readinessChecks, deps.healthCheckTimeoutMs ?? 1_000) }));
  for (const { path, router } of deps.routers ?? []) app.use(path, noteRouteBase(path), router);
  app.use(notFoundHandler);
  app.use(errorMiddleware(deps.logger));
  return app;
}
