import { z } from "zod";

/**
 * The `auth:session-revoked` event: published on Redis pub/sub after sessions were deleted from Redis, so every
 * API instance forgets them at once (its stale-if-error memory) and closes their WebSockets. It carries session ids
 * (SHA-256 of the tokens), never a token.
 */

/** Payload: the revoked session ids and when (ISO 8601). */
export const sessionRevokedSchema = z.object({
  sessionIds: z.array(z.string().regex(/^[0-9a-f]{64}$/)).min(1).max(10_000),
  at: z.iso.datetime(),
});

/** One revocation message. */
export type SessionRevoked = z.infer<typeof sessionRevokedSchema>;

/** Channel of session revocations: `<keyPrefix>:auth:session-revoked`. */
export function sessionRevokedChannel(keyPrefix: string): string {
  return `${keyPrefix}:auth:session-revoked`;
}
