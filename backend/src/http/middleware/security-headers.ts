import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import helmet from "helmet";

/** helmet's options: its defaults, and a Content-Security-Policy for a JSON API that serves no documents. */
export const HELMET_OPTIONS = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
  },
} as const;

/**
 * Security headers on every answer (helmet 8 with its defaults: `X-Content-Type-Options: nosniff`,
 * `Referrer-Policy: no-referrer`, HSTS, `X-Frame-Options`, cross-origin policies, ...) and a Content-Security-Policy
 * fit for a JSON API that serves no documents: nothing may load, nothing may frame it.
 *
 * helmet stays the source of truth for which headers and values, but it runs once, at start-up: its chain of 12
 * middlewares (one call and one `next` each, per request) showed in the service's CPU profile, and with these
 * options every header it sets is a constant. The one middleware here sets the captured headers in one pass.
 */
export function securityHeaders(): RequestHandler & { flat: readonly string[] } {
  const { set, removed } = captureHelmetHeaders();
  return Object.assign<RequestHandler, { flat: readonly string[] }>(
    (_req, res, next) => {
      for (const name of removed) res.removeHeader(name);
      for (const [name, value] of set) res.setHeader(name, value);
      next();
    },
    // For an answer written with one `writeHead` (a fast path): the removed ones were never set there.
    { flat: Object.freeze(set.flat()) },
  );
}

/**
 * Runs helmet once against a stand-in response and records what it sets and removes. Throws when helmet does not
 * finish synchronously and cleanly (an option that made a header depend on the request, e.g. a CSP nonce function,
 * would have to go back to running helmet per request).
 */
export function captureHelmetHeaders(): { set: [string, string][]; removed: string[] } {
  const set = new Map<string, string>();
  const removed = new Set<string>();
  const stub = {
    setHeader(name: string, value: string | number | readonly string[]) {
      if (typeof value !== "string") throw new Error(`helmet set ${name} to a non-string value`);
      set.set(name, value);
      removed.delete(name);
      return stub;
    },
    removeHeader(name: string) {
      set.delete(name);
      removed.add(name);
    },
    getHeader: () => undefined,
  };
  let finished = false;
  helmet(HELMET_OPTIONS)({} as IncomingMessage, stub as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error;
    finished = true;
  });
  if (!finished) throw new Error("helmet did not finish synchronously: its headers cannot be computed once");
  return { set: [...set], removed: [...removed] };
}
