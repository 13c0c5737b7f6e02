import type { Server } from "node:http";
import { Router } from "express";
import type { AnalyticsType } from "../../backend/src/analytics/analytics-catalog.ts";
import { createApp } from "../../backend/src/http/app.ts";
import { apiKeyRateLimit } from "../../backend/src/http/middleware/api-key-rate-limit.ts";
import { requireApiKey } from "../../backend/src/http/middleware/require-api-key.ts";
import { boundPort, closeServer, listen } from "../../backend/src/lifecycle/http-server.ts";
import type { Logger } from "../../backend/src/logging/logger.ts";
import type { RunningService } from "../../backend/src/service.ts";

/** A running static JSON endpoint. */
export interface StaticEndpoint {
  url: string;
  close(): Promise<void>;
}

/**
 * The limit of the dashboard figures: `GET /static/<type>` returns a fixed JSON body (the analytic's body captured
 * at warm-up, so the same bytes) through the same app factory, API-key check and rate limiter as the analytics
 * routes, in the same process, on a second port. What it costs is everything an analytics hit costs except the
 * cache lookup itself.
 */
export async function startStaticEndpoint(
  service: RunningService,
  logger: Logger,
  bodies: Map<AnalyticsType, string>,
  rateLimitPrefix: string,
): Promise<StaticEndpoint> {
  const router = Router();
  router.use(
    "/static",
    requireApiKey(service.apiKeys),
    apiKeyRateLimit({ redis: service.redis.client, logger, limit: 1_000_000, prefix: rateLimitPrefix }),
  );
  router.get("/static/:type", (req, res) => {
    const body = bodies.get(req.params.type as AnalyticsType);
    if (body === undefined) {
      res.status(404).json({ error: { code: "NOT_FOUND", message: "no such static body" } });
      return;
    }
    res.set("Cache-Control", "private, no-cache").type("application/json").send(body);
  });
  const app = createApp({ logger, routers: [{ path: "/", router }], readinessChecks: [] });
  const server: Server = await listen(app, 0, "127.0.0.1");
  return {
    url: `http://127.0.0.1:${boundPort(server)}`,
    close: () => closeServer(server, 1_000).then(() => undefined),
  };
}
