import type { FakeUser } from "./fake-discord/fake-discord-types.ts";
import type { FakeUserGuild } from "./fake-discord/fake-oauth.ts";
import { snowflakeAt } from "./fake-discord/snowflake.ts";

/** The user demo mode's "Log in with Discord" signs in (id stable across restarts). */
export const DEMO_MODERATOR: FakeUser = { id: snowflakeAt(Date.UTC(2021, 5, 1), 4_001), username: "demo-moderator" };

const MANAGE_GUILD = "32";

/**
 * The demo moderator's guilds: Manage Server on every simulated guild (which the bot is in), plus two guilds that
 * must not be granted: one where the bot is absent (Administrator there) and one where the user has no rights.
 */
export function demoModeratorGuilds(simulatedGuilds: { id: string; name: string }[]): FakeUserGuild[] {
  return [
    ...simulatedGuilds.map((guild) => ({ id: guild.id, name: guild.name, permissions: MANAGE_GUILD })),
    { id: snowflakeAt(Date.UTC(2021, 5, 2), 4_002), name: "A guild without the bot", permissions: "8" },
    { id: snowflakeAt(Date.UTC(2021, 5, 3), 4_003), name: "A guild the user only chats in", permissions: "104324673" },
  ];
}
