import type { IncomingMessage } from "node:http";
import { AuthRateLimitedError } from "../errors.ts";
import type { Principal } from "../auth/principal.ts";
import { readCookie, SESSION_COOKIE } from "../http/session-cookies.ts";
import type { KeyAuthenticator } from "./realtime-client.ts";
import type { UpgradeRejection } from "./upgrade-rejection.ts";

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The outcome of checking an upgrade's Authorization header. */
export type UpgradeAuthentication =
  | { ok: true; authenticated: { principal: Principal; key: string } | undefined }
  | { ok: false; rejection: UpgradeRejection };

/**
 * Checks `Authorization: Bearer <key or session token>` on an upgrade request, else the session cookie (same-origin
 * pages only). Without either the upgrade goes ahead unauthenticated (the socket must then send an `auth` message, as browsers cannot set headers); a header that
 * is malformed or carries an unknown or revoked key is 401; a key that cannot be checked now is 503; an address
 * past its failed-key limit (AUTH_FAILURES_PER_MINUTE, counted as for the HTTP API) is 429 with Retry-After.
 */
export async function authenticateUpgrade(
  request: IncomingMessage,
  auth: KeyAuthenticator,
  clientIp?: string,
): Promise<UpgradeAuthentication> {
  const header = request.headers.authorization;
  if (header === undefined) {
    // A browser sends the session cookie with the upgrade. Cookies also ride along when another site opens a socket
    // here (cross-site WebSocket hijacking), so the cookie counts only when the page's Origin is this host.
    const cookie = readCookie(request, SESSION_COOKIE);
    if (cookie === undefined || !sameOrigin(request)) return { ok: true, authenticated: undefined };
    return check(cookie, auth, clientIp, "the session is unknown, expired or revoked");
  }
  const key = BEARER.exec(header)?.[1];
  if (!key)
    return {
      ok: false,
      rejection: {
        status: 401,
        code: "E_UNAUTHORIZED",
        message: "the Authorization header must be 'Bearer <api key>'",
      },
    };
  return check(key, auth, clientIp, "the API key is unknown or revoked");
}

async function check(
  key: string,
  auth: KeyAuthenticator,
  clientIp: string | undefined,
  unknown: string,
): Promise<UpgradeAuthentication> {
  let principal: Principal | undefined;
  try {
    principal = await auth.authenticate(key, { clientIp });
  } catch (error) {
    if (error instanceof AuthRateLimitedError) {
      return {
        ok: false,
        rejection: {
          status: 429,
          code: "E_RATE_LIMITED",
          message: error.message,
          retryAfterSeconds: error.retryAfterSeconds,
        },
      };
    }
    return {
      ok: false,
      rejection: {
        status: 503,
        code: "E_DEPENDENCY_UNAVAILABLE",
        message: "the API key cannot be checked now; try again later",
      },
    };
  }
  if (!principal) return { ok: false, rejection: { status: 401, code: "E_UNAUTHORIZED", message: unknown } };
  return { ok: true, authenticated: { principal, key } };
}

/** True when the upgrade has no Origin (not a browser page) or its Origin's host is the Host the request was sent to. */
function sameOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}
