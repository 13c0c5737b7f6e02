import { timingSafeEqual } from "node:crypto";
import type { RequestHandler, Response } from "express";
import type { Authenticator } from "../../auth/credential-authenticator.ts";
import { canAccessGuild, type Principal } from "../../auth/principal.ts";
import { csrfTokenOf } from "../../auth/sessions/session-token.ts";
import { AuthRateLimitedError, CsrfError, ForbiddenError, UnauthorizedError } from "../../errors.ts";
import { CSRF_HEADER, readCookie, SESSION_COOKIE } from "../session-cookies.ts";

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The principal `requireApiKey` attached to this response, or undefined before it ran. */
export function principalOf(res: Response): Principal | undefined {
  return res.locals.principal as Principal | undefined;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The credential a request carries and where it came from: the Authorization header first, else the session cookie. */
export function presentedCredential(
  req: Parameters<RequestHandler>[0],
): { secret: string; via: "header" | "cookie" } | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = BEARER.exec(header);
    return match?.[1] ? { secret: match[1], via: "header" } : undefined;
  }
  const cookie = readCookie(req, SESSION_COOKIE);
  return cookie ? { secret: cookie, via: "cookie" } : undefined;
}

/** True when `header` is the CSRF token of the session `token` (constant time). */
function csrfMatches(token: string, header: string | string[] | undefined): boolean {
  if (typeof header !== "string") return false;
  const expected = Buffer.from(csrfTokenOf(token));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * Requires `Authorization: Bearer <api key or session token>` or the session cookie (docs/auth.md): 401 JSON without a key or with an unknown or revoked one; 503
 * E_DEPENDENCY_UNAVAILABLE when the key cannot be checked (PostgreSQL down and no recent verification of it, or too
 * many unfamiliar keys being checked); 429 E_RATE_LIMITED with Retry-After when the client address
 * (`req.ip`, which honours TRUST_PROXY) failed too often and the key would need a lookup.
 * The key itself is never logged or echoed; the principal is kept in `res.locals.principal`.
 */
export function requireApiKey(auth: Authenticator): RequestHandler {
  const check = checkCredential(auth);
  // Synchronous when the authenticator vouches for the key from memory (every request of a key in steady use):
  // `next` runs in the same tick, with no promise and no microtask hop; anything else goes the asynchronous way.
  return (req, res, next) => {
    const secret = bearerSecret(req);
    const principal = secret === undefined ? undefined : auth.known?.(secret);
    if (principal !== undefined) {
      res.locals.principal = principal;
      next();
      return;
    }
    return check(req, res, next);
  };
}

/** The secret of an `Authorization: Bearer <secret>` header, as `presentedCredential` reads it (undefined otherwise). */
export function bearerSecret(req: Parameters<RequestHandler>[0]): string | undefined {
  const header = req.headers.authorization;
  return header === undefined ? undefined : BEARER.exec(header)?.[1];
}

/** The asynchronous check of `requireApiKey`: cookies, CSRF, lookups, failed-attempt limits. */
function checkCredential(auth: Authenticator): RequestHandler {
  return async (req, res, next) => {
    const credential = presentedCredential(req);
    if (!credential) {
      next(new UnauthorizedError());
      return;
    }
    // Cookies ride along on cross-site requests: a state-changing one must prove it was made by the dashboard.
    if (
      credential.via === "cookie" &&
      !SAFE_METHODS.has(req.method) &&
      !csrfMatches(credential.secret, req.headers[CSRF_HEADER])
    ) {
      next(new CsrfError());
      return;
    }
    let principal: Principal | undefined;
    try {
      principal = await auth.authenticate(credential.secret, {
        clientIp: req.ip ?? req.socket.remoteAddress ?? "unknown",
      });
    } catch (error) {
      if (error instanceof AuthRateLimitedError) res.set("Retry-After", String(error.retryAfterSeconds));
      next(error);
      return;
    }
    if (!principal) {
      next(
        new UnauthorizedError(
          credential.secret.startsWith("sws_")
            ? "The session is unknown, expired or revoked: sign in again"
            : "The API key is unknown or revoked",
        ),
      );
      return;
    }
    res.locals.principal = principal;
    next();
  };
}

/** Requires an admin key (after `requireApiKey`): 403 for a guild-scoped key. */
export const requireAdmin: RequestHandler = (_req, res, next) => {
  const principal = principalOf(res);
  if (!principal) {
    next(new UnauthorizedError());
    return;
  }
  next(principal.scope === "admin" ? undefined : new ForbiddenError("This route needs an admin API key"));
};

/** Throws 403 unless the request's key may read `guildId` (call after validating the guild id). */
export function assertGuildAccess(res: Response, guildId: string): void {
  const principal = principalOf(res);
  if (!principal) throw new UnauthorizedError();
  if (!canAccessGuild(principal, guildId)) throw new ForbiddenError(`This API key is not scoped to guild ${guildId}`);
}
