import type { PrincipalScope } from "../principal.ts";
import type { DiscordUserGuild } from "./discord-oauth-client.ts";

/** Discord permission bits that make a moderator here: Administrator (0x8) and Manage Server (0x20). */
const ADMINISTRATOR = 0x8n;
const MANAGE_GUILD = 0x20n;

/** True when the user may manage this guild: owner, Administrator or Manage Server. */
export function canManageGuild(guild: DiscordUserGuild): boolean {
  let bits: bigint;
  try {
    bits = BigInt(guild.permissions);
  } catch {
    return false;
  }
  return guild.owner || (bits & ADMINISTRATOR) !== 0n || (bits & MANAGE_GUILD) !== 0n;
}

/**
 * The scope of a signed-in Discord user: admin when the user id is on the allow-list (AUTH_ADMIN_USER_IDS);
 * otherwise the guilds where the user has Manage Server or Administrator AND the bot is present.
 */
export function discordUserScope(input: {
  userId: string;
  guilds: DiscordUserGuild[];
  botGuildIds: ReadonlySet<string>;
  adminUserIds: ReadonlySet<string>;
}): PrincipalScope {
  if (input.adminUserIds.has(input.userId)) return { scope: "admin" };
  const guildIds = input.guilds
    .filter((guild) => input.botGuildIds.has(guild.id) && canManageGuild(guild))
    .map((guild) => guild.id);
  return { scope: "guild", guildIds: [...new Set(guildIds)].sort() };
}
