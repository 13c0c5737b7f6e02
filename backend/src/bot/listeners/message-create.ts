import { defineListener } from "../bot-listener.ts";

/** Records a message posted by a human in a guild channel; bots, webhooks, system messages and DMs are skipped. */
export const messageCreateListener = defineListener({
  name: "messageCreate",
  event: "messageCreate",
  run({ ingest }, message) {
    if (!message.inGuild()) return;
    if (message.author.bot || message.webhookId || message.system) return;
    ingest.write({
      kind: "message",
      messageId: message.id,
      guildId: message.guildId,
      channelId: message.channelId,
      userId: message.author.id,
      // Without the privileged MessageContent intent Discord sends empty content, so this is 0 then.
      contentLength: message.content.length,
      createdAt: message.createdAt,
    });
  },
});
