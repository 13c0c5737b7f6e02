/** What a principal may read: every guild (admin) or a list of guild ids. */
export type PrincipalScope = { scope: "admin" } | { scope: "guild"; guildIds: string[] };

/**
 * Who is calling, as established from an API key or a session (docs/auth.md). Never holds the key or the session
 * id itself.
 */
export type Principal = PrincipalScope & {
  /**
   * A plain string naming the person or client behind the request: the Discord user id for a "Log in with Discord"
   * session, `key:<keyId>` for an API key and for a session made from one.
   */
  userId: string;
  /** Display name: the key's name, or the Discord username. */
  name: string;
  /** The API key behind the request (directly, or through a session made from it); undefined for Discord sign-ins. */
  keyId?: string | undefined;
  /** Set when the request authenticated with a session: the session's public id (never the secret token). */
  sessionId?: string | undefined;
};

/** True when the principal may read this guild's data: admins read every guild. */
export function canAccessGuild(principal: Principal, guildId: string): boolean {
  return principal.scope === "admin" || principal.guildIds.includes(guildId);
}

/**
 * True when `after` grants less than `before`: admin became guild-scoped, or a guild of `before` is missing from
 * `after` (a scope refresh found the moderator lost Manage Server). A scope that only grew is not reduced.
 */
export function isScopeReduced(before: PrincipalScope, after: PrincipalScope): boolean {
  if (before.scope === "guild")
    return after.scope === "guild" && before.guildIds.some((guildId) => !after.guildIds.includes(guildId));
  return after.scope !== "admin";
}

/** The `userId` of principals established from the API key `keyId` (and of sessions made from that key). */
export function apiKeyUserId(keyId: string): string {
  return `key:${keyId}`;
}

/** The key id of the optional bootstrap admin key from ADMIN_API_KEY (it has no database row). */
export const BOOTSTRAP_ADMIN_KEY_ID = "bootstrap-admin";

/** A principal established from an API key: it always names its key. */
export type ApiKeyPrincipal = Principal & { keyId: string };
