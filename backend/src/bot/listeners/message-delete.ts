import { defineListener } from "../bot-listener.ts";

/** Records a guild message deletion; the author is known only when the message was in the bot's cache. */
export const messageDeleteListener = defineListener({
  name: "messageDelete",
  event: "messageDelete",
  run({ ingest }, message) {
    if (!message.guildId) return;
    // A partial (uncached) message has no author: record the deletion without one rather than lose it.
    if (message.author?.bot) return;
    ingest.write({
      kind: "messageDelete",
      messageId: message.id,
      guildId: message.guildId,
      channelId: message.channelId,
      userId: message.author?.id ?? null,
      deletedAt: new Date(),
    });
  },
});
