import { z } from "zod";

/**
 * The `auth:revoked` event: published on Redis pub/sub after an API key was revoked in PostgreSQL, so every API
 * instance drops that key from its lookup cache at once. It carries the key's id only: never the secret or its hash.
 */

/** Payload of a revocation: the revoked key's id (UUID) and when it was revoked (ISO 8601). */
export const apiKeyRevokedSchema = z.object({
  keyId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i),
  at: z.iso.datetime(),
});

/** One revocation. */
export type ApiKeyRevoked = z.infer<typeof apiKeyRevokedSchema>;

/** Channel of revocations: `<keyPrefix>:auth:revoked`, so deployments sharing a Redis stay apart. */
export function apiKeyRevokedChannel(keyPrefix: string): string {
  return `${keyPrefix}:auth:revoked`;
}
