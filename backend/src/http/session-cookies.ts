import type { IncomingMessage } from "node:http";
import { parseCookie, stringifySetCookie } from "cookie";
import type { Request, Response } from "express";

/** The session cookie: HttpOnly, SameSite=Lax, path /, the session token as its value. */
export const SESSION_COOKIE = "spywatcher_session";
/** The CSRF cookie: readable by the dashboard's script (not HttpOnly), echoed in X-CSRF-Token. */
export const CSRF_COOKIE = "spywatcher_csrf";
/** The OAuth state cookie, bound to the browser that started "Log in with Discord" (path /auth/discord, 10 min). */
export const OAUTH_STATE_COOKIE = "spywatcher_oauth_state";
/** The header carrying the CSRF token on state-changing requests under cookie auth. */
export const CSRF_HEADER = "x-csrf-token";

/** Where cookies may only travel over HTTPS: always in production, else when the request came over HTTPS. */
export interface CookiePolicy {
  /** NODE_ENV=production: Secure on every cookie. */
  alwaysSecure: boolean;
}

/** One cookie of a request (Express or a raw upgrade request), or undefined. */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  try {
    return parseCookie(header)[name];
  } catch {
    return undefined;
  }
}

function secure(req: Request, policy: CookiePolicy): boolean {
  // req.secure honours TRUST_PROXY (X-Forwarded-Proto behind a TLS-terminating proxy).
  return policy.alwaysSecure || req.secure;
}

/** Sets the session and CSRF cookies of a session just opened, living until the session's absolute end. */
export function setSessionCookies(
  req: Request,
  res: Response,
  policy: CookiePolicy,
  input: { token: string; csrfToken: string; session: { maxExpiresAt: string } },
): void {
  const maxAge = Math.max(1, Math.floor((Date.parse(input.session.maxExpiresAt) - Date.now()) / 1000));
  const common = { path: "/", sameSite: "lax" as const, secure: secure(req, policy), maxAge };
  res.append("Set-Cookie", stringifySetCookie({ name: SESSION_COOKIE, value: input.token, httpOnly: true, ...common }));
  res.append(
    "Set-Cookie",
    stringifySetCookie({ name: CSRF_COOKIE, value: input.csrfToken, httpOnly: false, ...common }),
  );
}

/** Clears the session and CSRF cookies (logout, revoked session). */
export function clearSessionCookies(req: Request, res: Response, policy: CookiePolicy): void {
  const common = { path: "/", sameSite: "lax" as const, secure: secure(req, policy), maxAge: 0 };
  res.append("Set-Cookie", stringifySetCookie({ name: SESSION_COOKIE, value: "", httpOnly: true, ...common }));
  res.append("Set-Cookie", stringifySetCookie({ name: CSRF_COOKIE, value: "", httpOnly: false, ...common }));
}

/** Sets (or, with undefined, clears) the OAuth state cookie. */
export function setOAuthStateCookie(
  req: Request,
  res: Response,
  policy: CookiePolicy,
  state: string | undefined,
  maxAgeSeconds: number,
): void {
  res.append(
    "Set-Cookie",
    stringifySetCookie({
      name: OAUTH_STATE_COOKIE,
      value: state ?? "",
      httpOnly: true,
      path: "/auth/discord",
      // Lax: the cookie must come back on Discord's top-level redirect to the callback.
      sameSite: "lax",
      secure: secure(req, policy),
      maxAge: state ? maxAgeSeconds : 0,
    }),
  );
}
