import { Router, type RequestHandler } from "express";
import type { Authenticator } from "../auth/credential-authenticator.ts";
import type { SessionService } from "../auth/sessions/session-service.ts";
import { isSessionId } from "../auth/sessions/session-token.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import { principalOf, requireAdmin, requireApiKey } from "./middleware/require-api-key.ts";
import { clearSessionCookies, setSessionCookies, type CookiePolicy } from "./session-cookies.ts";

/** What the session routes are built from. */
export interface SessionRouterDependencies {
  sessions: Pick<SessionService, "open" | "list" | "revoke" | "revokeUser" | "counts">;
  /** API keys and sessions: for every route but `POST /sessions`. */
  auth: Authenticator;
  /** API keys only: `POST /sessions` exchanges a key, never another session. */
  apiKeys: Authenticator;
  cookies: CookiePolicy;
  afterAuth?: RequestHandler[];
}

const USER_ID = /^(\d{1,20}|key:[A-Za-z0-9-]{1,64})$/;

/**
 * Mounted at `/api`: `POST /sessions` (API key -> session), `GET /sessions`, `DELETE /sessions/:id`,
 * `DELETE /sessions` (the caller's own), and for admins `GET /admin/sessions/stats` and
 * `DELETE /admin/sessions/users/:userId` (docs/auth.md).
 */
export function sessionRouter(deps: SessionRouterDependencies): Router {
  const router = Router();
  const after = deps.afterAuth ?? [];
  const signedIn = [requireApiKey(deps.auth), ...after];

  router.post("/sessions", requireApiKey(deps.apiKeys), ...after, async (req, res) => {
    const principal = principalOf(res)!;
    const opened = await deps.sessions.open({
      kind: "api-key",
      userId: principal.userId,
      userName: principal.name,
      keyId: principal.keyId,
      scope: principal.scope === "admin" ? { scope: "admin" } : { scope: "guild", guildIds: principal.guildIds },
      clientIp: req.ip ?? "unknown",
      userAgent: req.get("user-agent") ?? "",
    });
    setSessionCookies(req, res, deps.cookies, opened);
    res.status(201).set("Cache-Control", "no-store").json(opened);
  });

  router.get("/sessions", ...signedIn, async (_req, res) => {
    const principal = principalOf(res)!;
    res
      .set("Cache-Control", "no-store")
      .json({ sessions: await deps.sessions.list(principal.userId, principal.sessionId) });
  });

  router.delete("/sessions/:id", ...signedIn, async (req, res) => {
    const principal = principalOf(res)!;
    const id = String(req.params.id);
    if (!isSessionId(id))
      throw new ValidationError("id: must be a session id (64 hex characters) as listed by GET /api/sessions", [
        { field: "id", message: "64 hex characters" },
      ]);
    if (!(await deps.sessions.revoke(principal.userId, id))) throw new NotFoundError(`You have no session ${id}`);
    if (id === principal.sessionId) clearSessionCookies(req, res, deps.cookies);
    res.json({ revoked: 1 });
  });

  router.delete("/sessions", ...signedIn, async (req, res) => {
    const principal = principalOf(res)!;
    const revoked = await deps.sessions.revokeUser(principal.userId);
    if (principal.sessionId) clearSessionCookies(req, res, deps.cookies);
    res.json({ revoked });
  });

  router.get("/admin/sessions/stats", ...signedIn, requireAdmin, async (_req, res) => {
    res.set("Cache-Control", "no-store").json(await deps.sessions.counts());
  });

  router.delete("/admin/sessions/users/:userId", ...signedIn, requireAdmin, async (req, res) => {
    const userId = String(req.params.userId);
    if (!USER_ID.test(userId))
      throw new ValidationError("userId: must be a Discord user id or key:<keyId>", [
        { field: "userId", message: "a snowflake or key:<uuid>" },
      ]);
    res.json({ userId, revoked: await deps.sessions.revokeUser(userId) });
  });

  return router;
}
