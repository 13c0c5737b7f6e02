import { AuthRateLimitedError } from "../errors.ts";
import type { AuthenticationContext } from "./api-key-service.ts";
import type { FailedAuthLimiter } from "./failed-auth-limiter.ts";
import type { Principal } from "./principal.ts";
import { SESSION_TOKEN_PREFIX } from "./sessions/session-token.ts";

/** Turns a presented credential (API key or session token) into a principal; used by the HTTP API and `/ws`. */
export interface Authenticator {
  /**
   * The principal of `secret`, or undefined when it is unknown, malformed, expired or revoked. Throws 503
   * (DependencyUnavailableError) when it cannot be checked now, 429 (AuthRateLimitedError) for an address past its
   * failed-authentication limit.
   */
  authenticate(secret: string, context?: AuthenticationContext): Promise<Principal | undefined>;
  /**
   * The principal of `secret` when this process can vouch for it at once, with no I/O and nothing to count (a key
   * verified here whose lookup is fresh, or the bootstrap admin key); undefined: call `authenticate`, which decides.
   * Optional: an authenticator without it always takes the asynchronous path.
   */
  known?(secret: string): Principal | undefined;
}

/** What the authenticator needs from the session service. */
export interface SessionAuthenticator extends Pick<Authenticator, "authenticate"> {
  /** True when this process verified the session and has not seen it end (it costs no guess). */
  isFamiliar(token: string): boolean;
}

/**
 * One authenticator for both credentials: session tokens (`sws_…`) are checked against the session store, anything
 * else as an API key (`sw_…`). Wherever an API key is accepted, a session is too, with the session's scope.
 * With `failedAuth` (the API keys' limiter, AUTH_FAILURES_PER_MINUTE), session tokens that do not verify count
 * against the client address as wrong API keys do, in the same count: past the limit a session this process has not
 * verified is refused with 429 before any Redis read, so session ids cannot be guessed at speed.
 */
export function credentialAuthenticator(
  apiKeys: Authenticator,
  sessions: SessionAuthenticator | undefined,
  failedAuth?: FailedAuthLimiter,
): Authenticator {
  const authenticateSession = async (sessions: SessionAuthenticator, secret: string, clientIp: string | undefined) => {
    // No address (the heartbeat's re-check of an open socket): not an attempt from a client, not counted.
    if (clientIp === undefined || !failedAuth) return sessions.authenticate(secret);
    const verdict = failedAuth.check(clientIp);
    // A shared address (NAT, proxy) flooding wrong tokens does not lock out sessions already verified here.
    if (verdict.limited && !sessions.isFamiliar(secret)) throw new AuthRateLimitedError(verdict.retryAfterSeconds);
    const principal = await sessions.authenticate(secret);
    if (!principal) failedAuth.recordFailure(clientIp);
    return principal;
  };
  return {
    // Sessions always take the asynchronous path (their store is Redis, and revocation must be seen there).
    known:
      apiKeys.known === undefined
        ? undefined
        : (secret) => (secret.startsWith(SESSION_TOKEN_PREFIX) ? undefined : apiKeys.known!(secret)),
    authenticate(secret, context) {
      if (sessions && secret.startsWith(SESSION_TOKEN_PREFIX))
        return authenticateSession(sessions, secret, context?.clientIp);
      return apiKeys.authenticate(secret, context);
    },
  };
}
