import { defineListener } from "../bot-listener.ts";

/** Records a typing indicator in a guild channel (the original project never did, leaving ghosts empty). */
export const typingStartListener = defineListener({
  name: "typingStart",
  event: "typingStart",
  run({ ingest }, typing) {
    if (!typing.inGuild() || typing.user.bot) return;
    ingest.write({
      kind: "typing",
      guildId: typing.guild.id,
      channelId: typing.channel.id,
      userId: typing.user.id,
      startedAt: typing.startedAt,
    });
  },
});
