import { z } from "zod";

/**
 * The `auth:session-revoked` event: published on Redis pub/sub when sessions were deleted from Redis (`revoked`) or
 * their guild scope shrank at a scope refresh (`scope-reduced`), so every API instance forgets them at once (its
 * stale-if-error memory) and closes their WebSockets. It carries session ids (SHA-256 of the tokens), never a token.
 */

/** Why sessions are announced: ended (`revoked`), or still valid with fewer guilds than before (`scope-reduced`). */
export const SESSION_REVOCATION_REASONS = ["revoked", "scope-reduced"] as const;

/** One of `SESSION_REVOCATION_REASONS`. */
export type SessionRevocationReason = (typeof SESSION_REVOCATION_REASONS)[number];

/** Payload: the session ids, why (absent: `revoked`, as older publishers sent it) and when (ISO 8601). */
export const sessionRevokedSchema = z.object({
  sessionIds: z
    .array(z.string().regex(/^[0-9a-f]{64}$/))
    .min(1)
    .max(10_000),
  reason: z.enum(SESSION_REVOCATION_REASONS).optional(),
  at: z.iso.datetime(),
});

/** One revocation message. */
export type SessionRevoked = z.infer<typeof sessionRevokedSchema>;

/** Channel of session revocations: `<keyPrefix>:auth:session-revoked`. */
export function sessionRevokedChannel(keyPrefix: string): string {
  return `${keyPrefix}:auth:session-revoked`;
}
