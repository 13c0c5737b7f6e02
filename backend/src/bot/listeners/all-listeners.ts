import type { BotListener } from "../bot-listener.ts";
import { guildMemberAddListener } from "./guild-member-add.ts";
import { guildMemberUpdateListener } from "./guild-member-update.ts";
import { messageCreateListener } from "./message-create.ts";
import { messageDeleteListener } from "./message-delete.ts";
import { presenceUpdateListener } from "./presence-update.ts";
import { typingStartListener } from "./typing-start.ts";

/** Every listener the bot registers, one per Discord event. */
// biome-ignore lint/suspicious/noExplicitAny: a list of listeners of different events (each checked where it is defined)
export const ALL_LISTENERS: readonly BotListener<any>[] = [
  messageCreateListener,
  messageDeleteListener,
  typingStartListener,
  presenceUpdateListener,
  guildMemberUpdateListener,
  guildMemberAddListener,
];
