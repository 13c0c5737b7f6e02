import type { AuthenticationContext } from "./api-key-service.ts";
import type { Principal } from "./principal.ts";
import { SESSION_TOKEN_PREFIX } from "./sessions/session-token.ts";

/** Turns a presented credential (API key or session token) into a principal; used by the HTTP API and `/ws`. */
export interface Authenticator {
  /**
   * The principal of `secret`, or undefined when it is unknown, malformed, expired or revoked. Throws 503
   * (DependencyUnavailableError) when it cannot be checked now, 429 (AuthRateLimitedError) for an address past its
   * failed-key limit.
   */
  authenticate(secret: string, context?: AuthenticationContext): Promise<Principal | undefined>;
}

/**
 * One authenticator for both credentials: session tokens (`sws_…`) are checked against the session store, anything
 * else as an API key (`sw_…`). Wherever an API key is accepted, a session is too, with the session's scope.
 */
export function credentialAuthenticator(apiKeys: Authenticator, sessions: Pick<Authenticator, "authenticate"> | undefined): Authenticator {
  return {
    authenticate(secret, context) {
      if (sessions && secret.startsWith(SESSION_TOKEN_PREFIX)) return sessions.authenticate(secret);
      return apiKeys.authenticate(secret, context);
    },
  };
}
