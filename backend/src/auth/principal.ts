/** Who is calling, as established from an API key. Never holds the key itself. */
export type Principal =
  | { keyId: string; name: string; scope: "admin" }
  | { keyId: string; name: string; scope: "guild"; guildIds: string[] };

/** True when the principal may read this guild's data: admins read every guild. */
export function canAccessGuild(principal: Principal, guildId: string): boolean {
  return principal.scope === "admin" || principal.guildIds.includes(guildId);
}

/** The key id of the optional bootstrap admin key from ADMIN_API_KEY (it has no database row). */
export const BOOTSTRAP_ADMIN_KEY_ID = "bootstrap-admin";
