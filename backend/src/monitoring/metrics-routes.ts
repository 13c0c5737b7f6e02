import { createHash, timingSafeEqual } from "node:crypto";
import { Router, type RequestHandler } from "express";
import type { Registry } from "prom-client";
import type { Authenticator } from "../auth/credential-authenticator.ts";
import { UnauthorizedError } from "../errors.ts";
import { requireAdmin, requireApiKey } from "../http/middleware/require-api-key.ts";

/** What the metrics route is built from. */
export interface MetricsRouterDependencies {
  registry: Registry;
  /** METRICS_TOKEN: when set, scrapes must send `Authorization: Bearer <token>` (and only it is accepted). */
  token?: string | undefined;
  /** Checks API keys and session tokens (docs/auth.md). */
  auth: Authenticator;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * `GET /metrics` (mount at "/metrics"): the registry in Prometheus text format. With METRICS_TOKEN set it needs that
 * bearer token, so a scraper needs no API key and a scrape never waits on PostgreSQL; without it, an admin API key.
 */
export function metricsRouter(deps: MetricsRouterDependencies): Router {
  const router = Router();
  const guard = deps.token === undefined ? [requireApiKey(deps.auth), requireAdmin] : [requireToken(deps.token)];
  router.get("/", ...guard, async (_req, res) => {
    const body = await deps.registry.metrics();
    res.set("Cache-Control", "no-store").type(deps.registry.contentType).send(body);
  });
  return router;
}

/** 401 unless the request carries exactly `token` as its bearer credential (compared in constant time). */
function requireToken(token: string): RequestHandler {
  const expected = digest(token);
  return (req, _res, next) => {
    const sent = BEARER.exec(req.headers.authorization ?? "")?.[1];
    const valid = sent !== undefined && timingSafeEqual(digest(sent), expected);
    next(
      valid
        ? undefined
        : new UnauthorizedError("A valid metrics token is required: send 'Authorization: Bearer <METRICS_TOKEN>'"),
    );
  };
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}
