import type { FakeGuild, FakeUser } from "../../backend/src/simulation/fake-discord/fake-discord-types.ts";
import { snowflakeAt } from "../../backend/src/simulation/fake-discord/snowflake.ts";
import { randomSnowflake } from "./test-env.ts";

/** A test guild with random ids: two text channels, two roles, three humans (one holding `mod`) and one bot. */
export interface TestGuild {
  guild: FakeGuild;
  channelIds: [string, string];
  roles: { mod: { id: string; name: string }; helper: { id: string; name: string } };
  humans: [FakeUser, FakeUser, FakeUser];
  bot: FakeUser;
}

let counter = 0;

/** A fresh snowflake distinct from every other one this process made (random high bits, a counter in the low). */
export function uniqueSnowflake(at = Date.now()): string {
  counter = (counter + 1) % 4096;
  return snowflakeAt(at - Math.floor(Math.random() * 1_000_000), counter);
}

/** Builds a guild no other test uses. */
export function testGuild(): TestGuild {
  const id = randomSnowflake();
  const channelIds: [string, string] = [uniqueSnowflake(), uniqueSnowflake()];
  const roles = { mod: { id: uniqueSnowflake(), name: "mod" }, helper: { id: uniqueSnowflake(), name: "helper" } };
  const humans: [FakeUser, FakeUser, FakeUser] = [
    { id: uniqueSnowflake(), username: "alice" },
    { id: uniqueSnowflake(), username: "bob" },
    { id: uniqueSnowflake(), username: "carol" },
  ];
  const bot: FakeUser = { id: uniqueSnowflake(), username: "other-bot", bot: true };
  return {
    guild: {
      id,
      name: `test-guild-${id}`,
      channels: [
        { id: channelIds[0], name: "general" },
        { id: channelIds[1], name: "random" },
      ],
      roles: [{ id, name: "@everyone" }, roles.mod, roles.helper],
      members: [
        { user: humans[0], roles: [roles.mod.id] },
        { user: humans[1], roles: [] },
        { user: humans[2], roles: [] },
        { user: bot, roles: [] },
      ],
      presences: [],
    },
    channelIds,
    roles,
    humans,
    bot,
  };
}
