import { Router, type Request, type RequestHandler } from "express";
import type { Authenticator } from "../auth/credential-authenticator.ts";
import type { DiscordSignIn } from "../auth/discord/discord-sign-in.ts";
import type { SessionService } from "../auth/sessions/session-service.ts";
import { csrfTokenOf } from "../auth/sessions/session-token.ts";
import { OAuthNotConfiguredError } from "../errors.ts";
import { principalOf, presentedCredential, requireApiKey } from "./middleware/require-api-key.ts";
import {
  clearSessionCookies,
  OAUTH_STATE_COOKIE,
  readCookie,
  setOAuthStateCookie,
  setSessionCookies,
  type CookiePolicy,
} from "./session-cookies.ts";

/** What the `/auth` routes are built from. */
export interface AuthRouterDependencies {
  /** "Log in with Discord"; undefined when it is not configured (the login route answers 404 E_OAUTH_NOT_CONFIGURED). */
  signIn: DiscordSignIn | undefined;
  sessions: Pick<SessionService, "revoke">;
  /** API keys and sessions. */
  auth: Authenticator;
  cookies: CookiePolicy;
  /** DISCORD_REDIRECT_URI; undefined: `<this request's origin>/auth/discord/callback` (demo mode, development). */
  redirectUri: string | undefined;
  /** Where the browser goes after signing in (AUTH_SUCCESS_REDIRECT, default /auth/me). */
  successRedirect: string;
  /** Lifetime of the OAuth state, in ms (the state cookie lives as long). */
  stateTtlMs: number;
  /** Middleware after authentication (the rate limiter). */
  afterAuth?: RequestHandler[];
}

/**
 * `GET /auth/discord/login` (redirect to Discord), `GET /auth/discord/callback` (session cookie, redirect to the
 * dashboard), `GET /auth/me` (who am I, with the CSRF token) and `POST /auth/logout`. Errors are JSON with a code
 * (docs/auth.md lists them).
 */
export function authRouter(deps: AuthRouterDependencies): Router {
  const router = Router();
  const stateMaxAge = Math.ceil(deps.stateTtlMs / 1000);
  const redirectUri = (req: Request) =>
    deps.redirectUri ?? `${req.protocol}://${req.get("host")}/auth/discord/callback`;

  router.get("/discord/login", async (req, res) => {
    if (!deps.signIn) throw new OAuthNotConfiguredError();
    const { authorizeUrl, state } = await deps.signIn.start(redirectUri(req));
    setOAuthStateCookie(req, res, deps.cookies, state, stateMaxAge);
    res.set("Cache-Control", "no-store").redirect(302, authorizeUrl);
  });

  router.get("/discord/callback", async (req, res) => {
    if (!deps.signIn) throw new OAuthNotConfiguredError();
    const query = (name: string) => (typeof req.query[name] === "string" ? (req.query[name] as string) : undefined);
    // The state is single-use whatever happens next: the browser's copy goes too.
    setOAuthStateCookie(req, res, deps.cookies, undefined, 0);
    res.set("Cache-Control", "no-store");
    const opened = await deps.signIn.finish({
      code: query("code"),
      state: query("state"),
      cookieState: readCookie(req, OAUTH_STATE_COOKIE),
      error: query("error"),
      clientIp: req.ip ?? "unknown",
      userAgent: req.get("user-agent") ?? "",
    });
    setSessionCookies(req, res, deps.cookies, opened);
    res.redirect(302, deps.successRedirect);
  });

  router.get("/me", requireApiKey(deps.auth), ...(deps.afterAuth ?? []), (req, res) => {
    const principal = principalOf(res)!;
    const credential = presentedCredential(req);
    res.set("Cache-Control", "no-store").json({
      userId: principal.userId,
      name: principal.name,
      scope: principal.scope,
      guildIds: principal.scope === "guild" ? principal.guildIds : undefined,
      sessionId: principal.sessionId,
      // The dashboard echoes this in X-CSRF-Token on state-changing requests made with the cookie.
      csrfToken: principal.sessionId && credential ? csrfTokenOf(credential.secret) : undefined,
    });
  });

  router.post("/logout", requireApiKey(deps.auth), ...(deps.afterAuth ?? []), async (req, res) => {
    const principal = principalOf(res)!;
    const revoked = principal.sessionId ? await deps.sessions.revoke(principal.userId, principal.sessionId) : false;
    clearSessionCookies(req, res, deps.cookies);
    res.set("Cache-Control", "no-store").json({ loggedOut: true, revoked: revoked ? 1 : 0 });
  });

  return router;
}
