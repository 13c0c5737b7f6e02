import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANALYTICS_TYPES } from "../../../backend/src/analytics/analytics-catalog.ts";
import { createAnalyticsService, type AnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import type { AnalyticsQuery } from "../../../backend/src/analytics/analytics-types.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { TEST_DATABASE_URL } from "../../support/test-env.ts";
import {
  CH1,
  CH2,
  insertFixture,
  PREVIOUS_SINCE,
  SINCE,
  U,
  UNTIL,
  type FixtureGuilds,
} from "../../support/analytics-fixture.ts";

const hours = (cells: Record<number, number>) => Array.from({ length: 24 }, (_, hour) => cells[hour] ?? 0);
const window = { since: SINCE.toISOString(), until: UNTIL.toISOString() };
const previousWindow = { since: PREVIOUS_SINCE.toISOString(), until: SINCE.toISOString() };

describe.each([
  ["raw events", false],
  ["rollups + raw edges", true],
])("analytics golden results on a hand-made guild, from %s (real PostgreSQL)", (_mode, rollups) => {
  let prisma: PrismaClient;
  let analytics: AnalyticsService;
  let guilds: FixtureGuilds;
  let query: AnalyticsQuery;

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    analytics = createAnalyticsService({ prisma, rollups });
    guilds = await insertFixture(prisma);
    query = { guildId: guilds.main, since: SINCE, until: UNTIL, limit: 100 };
  });
  afterAll(async () => {
    await prisma?.$disconnect();
  });

  it("ghosts: typing / (messages + 1), highest first; edges and the other guild respected", async () => {
    expect(await analytics.compute("ghosts", query)).toEqual({
      type: "ghosts",
      guildId: guilds.main,
      window,
      limit: 100,
      total: 3,
      flaggedTotal: 0,
      items: [
        // B: 3 typing in main (its 10 in the other guild do not count), no message -> 3 / 1.
        { userId: U.B, typingCount: 3, messageCount: 0, ghostScore: 3 },
        // A: 6 typing (one exactly at since), 2 messages (one exactly at since) -> 6 / 3.
        { userId: U.A, typingCount: 6, messageCount: 2, ghostScore: 2 },
        // D: 2 typing in the window's last ms, the one at `until` is out; 3 messages -> 2 / 4.
        { userId: U.D, typingCount: 2, messageCount: 3, ghostScore: 0.5 },
        // C typed only 1 ms before since: not a ghost.
      ],
    });
  });

  it("ghosts: limit cuts the list but total still counts every ghost", async () => {
    const result = await analytics.compute("ghosts", { ...query, limit: 2 });
    expect(result.items.map((item) => item.userId)).toEqual([U.B, U.A]);
    expect(result.total).toBe(3);
  });

  it("lurkers: presence without message or typing in the window; flagged from 5 presences", async () => {
    expect(await analytics.compute("lurkers", query)).toEqual({
      type: "lurkers",
      guildId: guilds.main,
      window,
      limit: 100,
      total: 4,
      flaggedTotal: 1,
      items: [
        // E: 5 presences; its message is in the other guild.
        { userId: U.E, presenceCount: 5, lastSeenAt: "2026-03-06T12:00:00.000Z", flagged: true },
        // F: 2 offline presences; its message was 1 ms before since.
        { userId: U.F, presenceCount: 2, lastSeenAt: "2026-03-07T12:00:00.000Z", flagged: false },
        // I and H: 1 presence each, the later lastSeenAt first; H's typing is in the other guild.
        { userId: U.I, presenceCount: 1, lastSeenAt: "2026-03-05T12:00:00.000Z", flagged: false },
        { userId: U.H, presenceCount: 1, lastSeenAt: SINCE.toISOString(), flagged: false },
        // A and B were present but spoke or typed; J was present only before the window.
      ],
    });
  });

  it("heatmap: messages and typing per channel and UTC hour, busiest channel first", async () => {
    expect(await analytics.compute("heatmap", query)).toEqual({
      type: "heatmap",
      guildId: guilds.main,
      window,
      limit: 100,
      total: 2,
      flaggedTotal: 0,
      items: [
        {
          channelId: CH1,
          messageCount: 5,
          typingCount: 7,
          messagesByHour: hours({ 0: 1, 13: 2, 23: 2 }),
          typingByHour: hours({ 0: 1, 9: 2, 13: 2, 23: 2 }),
        },
        {
          channelId: CH2,
          messageCount: 5,
          typingCount: 4,
          messagesByHour: hours({ 5: 1, 8: 1, 10: 1, 13: 2 }),
          typingByHour: hours({ 5: 1, 13: 1, 20: 2 }),
        },
      ],
    });
    const busiest = await analytics.compute("heatmap", { ...query, limit: 1 });
    expect(busiest.items.map((item) => item.channelId)).toEqual([CH1]);
    expect(busiest.total).toBe(2);
  });

  it("roles: added and removed per user in the window, flagged from 2 changes", async () => {
    expect(await analytics.compute("roles", query)).toEqual({
      type: "roles",
      guildId: guilds.main,
      window,
      limit: 100,
      total: 3,
      flaggedTotal: 2,
      items: [
        {
          userId: U.D,
          addedCount: 2,
          removedCount: 1,
          roleChangeCount: 3,
          lastChangeAt: "2026-03-06T00:00:00.000Z",
          flagged: true,
        },
        {
          userId: U.A,
          addedCount: 1,
          removedCount: 1,
          roleChangeCount: 2,
          lastChangeAt: "2026-03-03T00:00:00.000Z",
          flagged: true,
        },
        {
          userId: U.B,
          addedCount: 1,
          removedCount: 0,
          roleChangeCount: 1,
          lastChangeAt: "2026-03-04T00:00:00.000Z",
          flagged: false,
        },
        // C's changes are 1 ms before since and exactly at until: out. B's 5 in the other guild: not here.
      ],
    });
  });

  it("clients: platforms now vs the window before, flagged when one is new", async () => {
    expect(await analytics.compute("clients", query)).toEqual({
      type: "clients",
      guildId: guilds.main,
      window,
      previousWindow,
      limit: 100,
      total: 6,
      flaggedTotal: 3,
      items: [
        {
          userId: U.A,
          platforms: ["desktop", "mobile"],
          previousPlatforms: ["desktop"],
          newPlatforms: ["mobile"],
          flagged: true,
        },
        // E: web only here (its desktop is in the other guild); nothing before, so web is new.
        { userId: U.E, platforms: ["web"], previousPlatforms: [], newPlatforms: ["web"], flagged: true },
        // I: its desktop 1 ms before the window before does not count as "before".
        { userId: U.I, platforms: ["desktop"], previousPlatforms: [], newPlatforms: ["desktop"], flagged: true },
        // B: "vr" is ignored; mobile was there before.
        {
          userId: U.B,
          platforms: ["mobile"],
          previousPlatforms: ["desktop", "mobile"],
          newPlatforms: [],
          flagged: false,
        },
        { userId: U.F, platforms: [], previousPlatforms: ["web"], newPlatforms: [], flagged: false },
        // H: mobile in the last ms before since and the first ms of the window.
        { userId: U.H, platforms: ["mobile"], previousPlatforms: ["mobile"], newPlatforms: [], flagged: false },
      ],
    });
  });

  it("shifts: messageDrop and activity per user now vs before, highest score first", async () => {
    const shift = (userId: string, mc: number, mp: number, tc: number, tp: number, messageDrop = false) => ({
      userId,
      messageCount: mc,
      previousMessageCount: mp,
      typingCount: tc,
      previousTypingCount: tp,
      messageDrop,
      typingSpike: false,
      score: messageDrop ? 1 : 0,
    });
    expect(await analytics.compute("shifts", query)).toEqual({
      type: "shifts",
      guildId: guilds.main,
      window,
      previousWindow,
      limit: 100,
      total: 5,
      flaggedTotal: 1,
      items: [
        shift(U.F, 0, 1, 0, 0, true), // spoke 1 ms before since, silent now
        shift(U.C, 5, 1, 0, 1),
        shift(U.A, 2, 0, 6, 0),
        shift(U.B, 0, 0, 3, 0),
        shift(U.D, 3, 0, 2, 0),
      ],
    });
  });

  it("shifts: typingSpike needs now > 2x before and before >= 5; score adds both flags", async () => {
    const result = await analytics.compute("shifts", { ...query, guildId: guilds.shifts });
    expect(result.total).toBe(4);
    expect(result.flaggedTotal).toBe(2);
    expect(result.items).toEqual([
      {
        userId: U.S,
        messageCount: 0,
        previousMessageCount: 2,
        typingCount: 11,
        previousTypingCount: 5,
        messageDrop: true,
        typingSpike: true,
        score: 2,
      },
      {
        userId: U.V,
        messageCount: 0,
        previousMessageCount: 0,
        typingCount: 11,
        previousTypingCount: 5,
        messageDrop: false,
        typingSpike: true,
        score: 1,
      },
      // T: exactly 2x is not a spike. X: 4 before is below the minimum. W: only before both windows.
      {
        userId: U.T,
        messageCount: 1,
        previousMessageCount: 1,
        typingCount: 10,
        previousTypingCount: 5,
        messageDrop: false,
        typingSpike: false,
        score: 0,
      },
      {
        userId: U.X,
        messageCount: 0,
        previousMessageCount: 0,
        typingCount: 20,
        previousTypingCount: 4,
        messageDrop: false,
        typingSpike: false,
        score: 0,
      },
    ]);
  });

  it("deletions: attributable deletions per user with messages posted; most deletions, then highest ratio", async () => {
    expect(await analytics.compute("deletions", query)).toEqual({
      type: "deletions",
      guildId: guilds.main,
      window,
      limit: 100,
      total: 3,
      flaggedTotal: 0,
      items: [
        // A: 2 deletions (one exactly at since; its 1 in the other guild does not count), 2 messages -> 2 / 2.
        { userId: U.A, deletedCount: 2, messageCount: 2, deletionRatio: 1 },
        // C: 2 deletions (a third 1 ms before since is out), 5 messages in the window -> 2 / 5.
        { userId: U.C, deletedCount: 2, messageCount: 5, deletionRatio: 0.4 },
        // B: 1 deletion, no message -> 1 / max(0, 1).
        { userId: U.B, deletedCount: 1, messageCount: 0, deletionRatio: 1 },
        // D's deletion exactly at until is out; the deletion whose author is unknown is not listed or counted.
      ],
    });
  });

  it("uses the data source it was asked for", async () => {
    expect(await analytics.usesRollups()).toBe(rollups);
  });

  it("a guild with no rows answers empty results, never another guild's", async () => {
    const empty = { ...query, guildId: "300000000000000000" };
    for (const type of ANALYTICS_TYPES) {
      const result = await analytics.compute(type, empty);
      expect(result.items).toEqual([]);
      expect(result.total).toBe(0);
    }
  });
});
