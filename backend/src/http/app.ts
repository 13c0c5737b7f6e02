import express, { type Express, type Router } from "express";
import { pinoHttp } from "pino-http";
import type { ReadinessCheck } from "../health/readiness-checks.ts";
import type { Logger } from "../logging/logger.ts";
import { errorMiddleware, notFoundHandler } from "./error-middleware.ts";
import { healthRoutes } from "./health-routes.ts";

/** What the HTTP app is built from; tests build their own. */
export interface AppDependencies {
  logger: Logger;
  readinessChecks: ReadinessCheck[];
  /** Per-check timeout for GET /health/ready in ms (default 1,000). */
  healthCheckTimeoutMs?: number;
  /** Routers mounted at a path after health and before the 404 handler (e.g. "/api"). */
  routers?: { path: string; router: Router }[];
  /** Passed to Express's "trust proxy" (default false). */
  trustProxy?: boolean;
}

/** Builds the Express 5 app: request logging, JSON body parsing, health, feature routers, 404 and errors. */
export function createApp(deps: AppDependencies): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", deps.trustProxy ?? false);
  app.set("etag", "strong");
  app.use(
    pinoHttp({
      logger: deps.logger,
      autoLogging: { ignore: (req) => req.url?.startsWith("/health") ?? false },
      customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? "error" : "info"),
    }),
  );
  app.use(express.json({ limit: "100kb" }));
  app.use("/health", healthRoutes({ checks: deps.readinessChecks, timeoutMs: deps.healthCheckTimeoutMs ?? 1_000 }));
  for (const { path, router } of deps.routers ?? []) app.use(path, router);
  app.use(notFoundHandler);
  app.use(errorMiddleware(deps.logger));
  return app;
}
