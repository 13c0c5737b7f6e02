import type { FakeGuild, FakeUser } from "./fake-discord/fake-discord-types.ts";
import { snowflakeAt } from "./fake-discord/snowflake.ts";

/** How a simulated user behaves: regulars type and talk, ghosts type but rarely post, lurkers are only present. */
export type Persona = "regular" | "ghost" | "lurker";

/** A simulated user and its persona. */
export interface SimulatedUser {
  user: FakeUser;
  persona: Persona;
}

/** The built-in guild of simulated mode, with who is who. */
export interface SimulatedGuild {
  guild: FakeGuild;
  users: SimulatedUser[];
  /** Roles that can be granted and taken away (not @everyone). */
  grantableRoleIds: string[];
}

const CHANNELS = ["general", "random", "help", "announcements", "off-topic", "dev"];
const ROLES = ["moderator", "helper", "member", "vip", "muted"];
const NAMES = [
  "ada",
  "brook",
  "cyrus",
  "dana",
  "eli",
  "fay",
  "gus",
  "hana",
  "ivo",
  "jun",
  "kai",
  "lea",
  "milo",
  "nia",
  "otto",
  "pia",
  "quin",
  "rhea",
  "sol",
  "tove",
  "uma",
  "vik",
  "wren",
  "xia",
];
const DAY_MS = 86_400_000;
// Account creation times count back from a fixed date so user ids stay the same across restarts.
const ACCOUNTS_REFERENCE_MS = Date.UTC(2026, 0, 1);

/**
 * Builds the simulated guild: six channels, five grantable roles and 24 users (14 regulars, 5 ghosts, 5 lurkers)
 * whose accounts are between 10 days and 6 years old. Ids are snowflakes derived from `guildNumber`, so several
 * simulated guilds never share ids.
 */
export function buildSimulatedGuild(guildNumber = 1): SimulatedGuild {
  // A fixed creation time per guild keeps ids stable across restarts of the simulation.
  const base = Date.UTC(2020, 0, 1) + guildNumber * 1_000;
  const guildId = snowflakeAt(base, 0);
  const channels = CHANNELS.map((name, index) => ({ id: snowflakeAt(base, 100 + index), name }));
  const roles = [
    { id: guildId, name: "@everyone" },
    ...ROLES.map((name, index) => ({ id: snowflakeAt(base, 200 + index), name })),
  ];
  const users: SimulatedUser[] = NAMES.map((name, index) => {
    const persona: Persona = index < 14 ? "regular" : index < 19 ? "ghost" : "lurker";
    const accountAgeMs = (10 + ((index * 97) % 2_180)) * DAY_MS;
    return {
      user: { id: snowflakeAt(ACCOUNTS_REFERENCE_MS - accountAgeMs, 300 + guildNumber * 32 + index), username: name },
      persona,
    };
  });
  const guild: FakeGuild = {
    id: guildId,
    name: guildNumber === 1 ? "SpyWatcher Simulated Guild" : `SpyWatcher Simulated Guild ${guildNumber}`,
    channels,
    roles,
    members: users.map(({ user }, index) => ({ user, roles: index % 3 === 0 ? [roles[3]!.id] : [] })),
    presences: users.map(({ user }, index) => ({
      userId: user.id,
      status: "online" as const,
      clientStatus: index % 2 === 0 ? { desktop: "online" as const } : { mobile: "online" as const },
    })),
  };
  return { guild, users, grantableRoleIds: roles.slice(1).map((role) => role.id) };
}
