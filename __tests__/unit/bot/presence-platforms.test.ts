import { describe, expect, it } from "vitest";
import { botIntents } from "../../../backend/src/bot/discord-bot.ts";
import { platformsOf } from "../../../backend/src/bot/listeners/presence-update.ts";
import { GatewayIntentBits } from "discord.js";

describe("presence platforms", () => {
  it("lists the platforms present in client_status, in a stable order", () => {
    expect(platformsOf({ web: "online", desktop: "idle" })).toEqual(["desktop", "web"]);
    expect(platformsOf({ mobile: "dnd" })).toEqual(["mobile"]);
    expect(platformsOf({})).toEqual([]);
    expect(platformsOf(null)).toEqual([]);
  });
});

describe("bot intents", () => {
  it("asks for presences and members, and for message content only when told to", () => {
    expect(botIntents()).toEqual(
      expect.arrayContaining([
        GatewayIntentBits.GuildPresences,
        GatewayIntentBits.GuildMembers,
        GatewayIntentBits.GuildMessageTyping,
      ]),
    );
    expect(botIntents()).not.toContain(GatewayIntentBits.MessageContent);
    expect(botIntents(true)).toContain(GatewayIntentBits.MessageContent);
  });
});
