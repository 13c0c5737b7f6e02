import { createHash, createHmac, randomBytes } from "node:crypto";

/** Every session token starts with this, so it is told apart from an API key (`sw_`) at a glance. */
export const SESSION_TOKEN_PREFIX = "sws_";
const TOKEN_PATTERN = /^sws_[A-Za-z0-9_-]{43}$/;

/** A new session token: the secret (given to the client once) and its id (what Redis and the API know it by). */
export interface GeneratedSessionToken {
  token: string;
  /** SHA-256 hex of the token: the Redis key suffix and the public id in `GET /api/sessions`. */
  id: string;
}

/** Generates `sws_` + 32 random bytes in base64url (256 bits; the issue asks for at least 128). */
export function generateSessionToken(): GeneratedSessionToken {
  const token = `${SESSION_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  return { token, id: sessionIdOf(token) };
}

/**
 * The id of a token: its SHA-256 hex. A plain hash is enough (the token is random, not a password) and, unlike an
 * HMAC keyed with SESSION_SECRET, rotating the secret does not sign everyone out.
 */
export function sessionIdOf(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** True when `value` has the shape of a session token (checked before any Redis read). */
export function looksLikeSessionToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

/** True when `value` is a session id (64 hex characters), e.g. from `DELETE /api/sessions/:id`. */
export function isSessionId(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}

/**
 * The CSRF token of a session: an HMAC of a fixed label keyed with the session token, so it is derived (nothing to
 * store), differs per session, and reveals nothing about the token.
 */
export function csrfTokenOf(token: string): string {
  return createHmac("sha256", token).update("spywatcher csrf v1").digest("base64url");
}
