import { describe, expect, it } from "vitest";
import { canManageGuild, discordUserScope } from "../../../backend/src/auth/discord/guild-scope.ts";

const guild = (id: string, permissions: string, owner = false) => ({ id, name: id, owner, permissions });

describe("Discord guild scope", () => {
  it("Manage Server (0x20), Administrator (0x8) or owner manage a guild; other bits do not", () => {
    expect(canManageGuild(guild("1", "32"))).toBe(true);
    expect(canManageGuild(guild("1", "8"))).toBe(true);
    expect(canManageGuild(guild("1", "0", true))).toBe(true);
    expect(canManageGuild(guild("1", String(0x10 | 0x40 | 0x400)))).toBe(false);
    expect(canManageGuild(guild("1", "not a number"))).toBe(false);
    expect(canManageGuild(guild("1", ((1n << 40n) | 0x20n).toString()))).toBe(true);
  });

  it("grants managed guilds where the bot is, and admin to allow-listed users", () => {
    const guilds = [guild("1", "32"), guild("2", "8"), guild("3", "32"), guild("4", "0")];
    const botGuildIds = new Set(["1", "2", "4"]);
    expect(discordUserScope({ userId: "9", guilds, botGuildIds, adminUserIds: new Set() })).toEqual({
      scope: "guild",
      guildIds: ["1", "2"],
    });
    expect(discordUserScope({ userId: "9", guilds, botGuildIds, adminUserIds: new Set(["9"]) })).toEqual({
      scope: "admin",
    });
  });
});
