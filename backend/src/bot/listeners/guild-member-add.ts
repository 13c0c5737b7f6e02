import { defineListener } from "../bot-listener.ts";

const DAY_MS = 86_400_000;

/** Records a member joining, with the account's age in whole days at that moment. */
export const guildMemberAddListener = defineListener({
  name: "guildMemberAdd",
  event: "guildMemberAdd",
  run({ ingest }, member) {
    if (member.user.bot) return;
    const joinedAt = member.joinedAt ?? new Date();
    const accountCreatedAt = member.user.createdAt;
    ingest.write({
      kind: "memberJoin",
      guildId: member.guild.id,
      userId: member.id,
      accountCreatedAt,
      accountAgeDays: Math.max(0, Math.floor((joinedAt.getTime() - accountCreatedAt.getTime()) / DAY_MS)),
      joinedAt,
    });
  },
});
