import { defineListener } from "../bot-listener.ts";

/** Records each role added to or removed from a member, one row per role. */
export const guildMemberUpdateListener = defineListener({
  name: "guildMemberUpdate",
  event: "guildMemberUpdate",
  run({ ingest, logger }, oldMember, member) {
    if (member.user.bot) return;
    // An uncached member arrives as a partial whose old roles are unknown: a diff would report every role as added.
    // The bot fetches every guild's member list at start (GuildMemberLoader), so this is only the fallback for a
    // member whose fetch failed or has not finished yet.
    if (oldMember.partial) {
      logger.debug(
        { guildId: member.guild.id, userId: member.id },
        "guildMemberUpdate: previous roles unknown, not recorded",
      );
      return;
    }
    const createdAt = new Date();
    const base = { kind: "roleChange" as const, guildId: member.guild.id, userId: member.id, createdAt };
    for (const role of member.roles.cache.values()) {
      if (!oldMember.roles.cache.has(role.id))
        ingest.write({ ...base, roleId: role.id, roleName: role.name, action: "added" });
    }
    for (const role of oldMember.roles.cache.values()) {
      if (!member.roles.cache.has(role.id))
        ingest.write({ ...base, roleId: role.id, roleName: role.name, action: "removed" });
    }
  },
});
