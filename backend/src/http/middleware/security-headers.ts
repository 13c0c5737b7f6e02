import type { RequestHandler } from "express";
import helmet from "helmet";

/**
 * Security headers on every answer (helmet 8 with its defaults: `X-Content-Type-Options: nosniff`,
 * `Referrer-Policy: no-referrer`, HSTS, `X-Frame-Options`, cross-origin policies, ...) and a Content-Security-Policy
 * fit for a JSON API that serves no documents: nothing may load, nothing may frame it.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] } },
  });
}
