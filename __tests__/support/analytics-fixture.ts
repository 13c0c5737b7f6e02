import { randomUUID } from "node:crypto";
import type { PrismaClient } from "../../backend/src/db/prisma-client.ts";
import { randomSnowflake } from "./test-env.ts";

/**
 * A small hand-made guild for the golden tests. Every number the tests expect is derived by hand from the rows
 * below (see the comments beside each expectation). Users and channels have fixed ids; guild ids are random so
 * runs never collide. Window: [2026-03-01, 2026-03-08); the window before: [2026-02-22, 2026-03-01).
 */
export const SINCE = new Date("2026-03-01T00:00:00.000Z");
/** End of the fixture window (exclusive). */
export const UNTIL = new Date("2026-03-08T00:00:00.000Z");
/** Start of the window before (inclusive). */
export const PREVIOUS_SINCE = new Date("2026-02-22T00:00:00.000Z");

/** Fixed user ids, in ascending order (A < B < ...), so ties order predictably. */
export const U = {
  A: "100000000000000001",
  B: "100000000000000002",
  C: "100000000000000003",
  D: "100000000000000004",
  E: "100000000000000005",
  F: "100000000000000006",
  H: "100000000000000008",
  I: "100000000000000009",
  J: "100000000000000010",
  K: "100000000000000011",
  S: "100000000000000020",
  T: "100000000000000021",
  V: "100000000000000022",
  X: "100000000000000023",
  W: "100000000000000024",
} as const;
/** Fixed channel ids (the other guild reuses them on purpose: isolation must come from guild_id). */
export const CH1 = "200000000000000001";
/** Second channel. */
export const CH2 = "200000000000000002";

const at = (iso: string) => new Date(iso);
const ms = (date: Date, delta: number) => new Date(date.getTime() + delta);

/** The guilds of one fixture: the main one, a second one whose rows must never leak, one for shift thresholds. */
export interface FixtureGuilds {
  main: string;
  other: string;
  shifts: string;
}

type Msg = [user: string, channel: string, when: Date];
type Typing = [user: string, channel: string, when: Date];
type Presence = [user: string, platforms: string[], when: Date];
type Role = [user: string, role: string, action: "added" | "removed", when: Date];
type Deletion = [user: string | null, when: Date];

/** Inserts the fixture through Prisma and returns its guild ids. */
export async function insertFixture(prisma: PrismaClient): Promise<FixtureGuilds> {
  const guilds: FixtureGuilds = { main: randomSnowflake(), other: randomSnowflake(), shifts: randomSnowflake() };
  const main = guilds.main;
  const other = guilds.other;
  const messages: [string, ...Msg][] = [
    [main, U.A, CH1, SINCE], // edge: exactly at since -> in (ch1 h0)
    [main, U.A, CH1, at("2026-03-02T13:30:00Z")],
    [main, U.C, CH2, ms(SINCE, -1)], // just before since -> out (previous window)
    [main, U.C, CH2, at("2026-03-03T13:00:00Z")],
    [main, U.C, CH2, at("2026-03-03T13:59:59.999Z")],
    [main, U.C, CH2, at("2026-03-04T05:00:00Z")],
    [main, U.C, CH1, at("2026-03-05T23:59:00Z")],
    [main, U.C, CH2, at("2026-03-06T10:00:00Z")],
    [main, U.D, CH1, ms(UNTIL, -1)], // last ms of the window -> in (ch1 h23)
    [main, U.D, CH1, at("2026-03-02T13:00:00Z")],
    [main, U.D, CH2, at("2026-03-03T08:00:00Z")],
    [main, U.D, CH1, UNTIL], // exactly at until -> out
    [main, U.F, CH1, ms(SINCE, -1)], // F spoke only before the window: a lurker now, a message drop
    [other, U.E, CH1, at("2026-03-02T10:00:00Z")], // E speaks only in the other guild
    [other, U.A, CH1, at("2026-03-02T10:00:00Z")],
  ];
  const typing: [string, ...Typing][] = [
    [main, U.A, CH1, SINCE],
    [main, U.A, CH1, at("2026-03-02T13:10:00Z")],
    [main, U.A, CH1, at("2026-03-02T13:11:00Z")],
    [main, U.A, CH2, at("2026-03-04T05:10:00Z")],
    [main, U.A, CH2, at("2026-03-06T20:00:00Z")],
    [main, U.A, CH2, at("2026-03-06T20:30:00Z")],
    [main, U.B, CH2, at("2026-03-03T13:20:00Z")],
    [main, U.B, CH1, at("2026-03-05T09:00:00Z")],
    [main, U.B, CH1, at("2026-03-05T09:30:00Z")],
    [main, U.C, CH1, ms(SINCE, -1)], // out of the window, in the one before
    [main, U.D, CH1, ms(UNTIL, -1)],
    [main, U.D, CH1, ms(UNTIL, -1)],
    [main, U.D, CH1, UNTIL], // out
    ...Array.from({ length: 10 }, (_, i): [string, ...Typing] => [
      other,
      U.B,
      CH1,
      at(`2026-03-0${1 + (i % 7)}T12:00:00Z`),
    ]),
    [other, U.H, CH1, at("2026-03-03T12:00:00Z")], // H types only in the other guild: still a lurker in main
  ];
  const presences: [string, ...Presence][] = [
    [main, U.A, ["desktop"], at("2026-02-25T12:00:00Z")],
    [main, U.A, ["desktop"], at("2026-03-02T12:00:00Z")],
    [main, U.A, ["desktop", "mobile"], at("2026-03-03T12:00:00Z")],
    [main, U.A, ["mobile"], at("2026-03-04T12:00:00Z")],
    [main, U.B, ["desktop", "mobile"], at("2026-02-26T12:00:00Z")],
    [main, U.B, ["mobile", "vr"], at("2026-03-05T12:00:00Z")], // "vr" is not a platform: ignored
    [main, U.E, ["web"], at("2026-03-01T01:00:00Z")],
    [main, U.E, ["web"], at("2026-03-02T12:00:00Z")],
    [main, U.E, ["web"], at("2026-03-03T12:00:00Z")],
    [main, U.E, ["web"], at("2026-03-04T12:00:00Z")],
    [main, U.E, ["web"], at("2026-03-06T12:00:00Z")],
    [main, U.F, ["web"], at("2026-02-27T12:00:00Z")],
    [main, U.F, [], at("2026-03-02T12:00:00Z")], // offline: a presence, no platform
    [main, U.F, [], at("2026-03-07T12:00:00Z")],
    [main, U.H, ["mobile"], ms(SINCE, -1)], // last ms of the window before
    [main, U.H, ["mobile"], SINCE], // first ms of the window
    [main, U.I, ["desktop"], ms(PREVIOUS_SINCE, -1)], // before both windows: does not count as "before"
    [main, U.I, ["desktop"], at("2026-03-05T12:00:00Z")],
    [main, U.J, ["desktop"], at("2026-02-23T12:00:00Z")], // only in the window before: listed nowhere
    [other, U.E, ["desktop"], at("2026-03-02T12:00:00Z")],
    [other, U.A, ["web"], at("2026-03-02T12:00:00Z")],
    [other, U.K, ["desktop"], at("2026-03-02T12:00:00Z")],
  ];
  const roles: [string, ...Role][] = [
    [main, U.A, "r1", "added", SINCE],
    [main, U.A, "r2", "removed", at("2026-03-03T00:00:00Z")],
    [main, U.B, "r1", "added", at("2026-03-04T00:00:00Z")],
    [main, U.C, "r1", "removed", ms(SINCE, -1)], // out
    [main, U.C, "r3", "added", UNTIL], // out
    [main, U.D, "r1", "added", at("2026-03-02T00:00:00Z")],
    [main, U.D, "r2", "added", at("2026-03-02T01:00:00Z")],
    [main, U.D, "r1", "removed", at("2026-03-06T00:00:00Z")],
    ...Array.from({ length: 5 }, (_, i): [string, ...Role] => [
      other,
      U.B,
      `r${i}`,
      "added",
      at("2026-03-02T00:00:00Z"),
    ]),
  ];
  const deletions: [string, ...Deletion][] = [
    [main, U.A, SINCE], // edge: exactly at since -> in
    [main, U.A, at("2026-03-02T14:00:00Z")],
    [main, U.C, ms(SINCE, -1)], // just before since -> out
    [main, U.C, at("2026-03-03T14:00:00Z")],
    [main, U.C, at("2026-03-04T06:00:00Z")],
    [main, U.B, at("2026-03-05T10:00:00Z")], // B posted nothing: ratio 1 / max(0, 1)
    [main, U.D, UNTIL], // exactly at until -> out
    [main, null, at("2026-03-05T10:00:00Z")], // author unknown (message not cached): not attributable
    [other, U.E, at("2026-03-02T11:00:00Z")],
    [other, U.A, at("2026-03-02T11:00:00Z")],
  ];
  addShiftRows(guilds.shifts, messages, typing);

  await prisma.messageEvent.createMany({
    data: messages.map(([guildId, userId, channelId, createdAt]) => ({
      messageId: randomUUID(),
      guildId,
      channelId,
      userId,
      createdAt,
    })),
  });
  await prisma.typingEvent.createMany({
    data: typing.map(([guildId, userId, channelId, startedAt]) => ({ guildId, userId, channelId, startedAt })),
  });
  await prisma.presenceEvent.createMany({
    data: presences.map(([guildId, userId, platforms, createdAt]) => ({
      guildId,
      userId,
      platforms,
      status: platforms.length ? "online" : "offline",
      createdAt,
    })),
  });
  await prisma.roleChangeEvent.createMany({
    data: roles.map(([guildId, userId, roleId, action, createdAt]) => ({
      guildId,
      userId,
      roleId,
      roleName: `role ${roleId}`,
      action,
      createdAt,
    })),
  });
  await prisma.messageDeleteEvent.createMany({
    data: deletions.map(([guildId, userId, deletedAt]) => ({
      messageId: randomUUID(),
      guildId,
      channelId: CH1,
      userId,
      deletedAt,
    })),
  });
  return guilds;
}

/** Shift thresholds, in their own guild: S drop + spike, V spike only, T exactly 2x (no spike), X 4 before (no spike). */
function addShiftRows(guild: string, messages: [string, ...Msg][], typing: [string, ...Typing][]): void {
  const before = (i: number) => ms(PREVIOUS_SINCE, i * 60_000); // i = 0 is exactly at the previous window's start
  const now = (i: number) => ms(SINCE, i * 60_000);
  const repeat = (n: number, user: string, when: (i: number) => Date) =>
    Array.from({ length: n }, (_, i): [string, ...Typing] => [guild, user, CH1, when(i)]);
  typing.push(...repeat(5, U.S, before), ...repeat(11, U.S, now));
  typing.push(...repeat(5, U.V, before), ...repeat(11, U.V, now));
  typing.push(...repeat(5, U.T, before), ...repeat(10, U.T, now));
  typing.push(...repeat(4, U.X, before), ...repeat(20, U.X, now));
  messages.push([guild, U.S, CH1, before(0)], [guild, U.S, CH1, before(1)]); // S: 2 before, 0 now -> drop
  messages.push([guild, U.T, CH1, before(2)], [guild, U.T, CH1, now(2)]);
  messages.push([guild, U.W, CH1, ms(PREVIOUS_SINCE, -1)]); // before both windows: W is listed nowhere
}
