import type { RequestHandler, Response } from "express";
import type { ApiKeyService } from "../../auth/api-key-service.ts";
import { canAccessGuild, type Principal } from "../../auth/principal.ts";
import { AuthRateLimitedError, ForbiddenError, UnauthorizedError } from "../../errors.ts";

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The principal `requireApiKey` attached to this response, or undefined before it ran. */
export function principalOf(res: Response): Principal | undefined {
  return res.locals.principal as Principal | undefined;
}

/**
 * Requires `Authorization: Bearer <api key>`: 401 JSON without a key or with an unknown or revoked one; 503
 * E_DEPENDENCY_UNAVAILABLE when the key cannot be checked (PostgreSQL down and no recent verification of it, or too
 * many unfamiliar keys being checked); 429 E_RATE_LIMITED with Retry-After when the client address
 * (`req.ip`, which honours TRUST_PROXY) failed too often and the key would need a lookup.
 * The key itself is never logged or echoed; the principal is kept in `res.locals.principal`.
 */
export function requireApiKey(auth: Pick<ApiKeyService, "authenticate">): RequestHandler {
  return async (req, res, next) => {
    const match = BEARER.exec(req.headers.authorization ?? "");
    if (!match?.[1]) {
      next(new UnauthorizedError());
      return;
    }
    let principal: Principal | undefined;
    try {
      principal = await auth.authenticate(match[1], { clientIp: req.ip ?? req.socket.remoteAddress ?? "unknown" });
    } catch (error) {
      if (error instanceof AuthRateLimitedError) res.set("Retry-After", String(error.retryAfterSeconds));
      next(error);
      return;
    }
    if (!principal) {
      next(new UnauthorizedError("The API key is unknown or revoked"));
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
