import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAnalyticsService, type AnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { randomSnowflake, TEST_DATABASE_URL } from "../../support/test-env.ts";

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const FROM = Date.parse("2026-02-10T00:00:00Z");
const SPAN = 30 * 86_400_000;
const WINDOWS: [string, string, string][] = [
  ["partial days at both ends", "2026-03-01T13:37:00Z", "2026-03-08T05:00:00Z"],
  ["within one day", "2026-03-03T01:00:00Z", "2026-03-03T22:10:00Z"],
  ["within one hour", "2026-03-03T04:05:00Z", "2026-03-03T04:55:00Z"],
  ["whole days", "2026-03-02T00:00:00Z", "2026-03-05T00:00:00Z"],
  ["a long window", "2026-02-12T07:00:00Z", "2026-03-10T00:00:00Z"],
  ["across midnight, no whole day, short edges", "2026-03-03T20:00:00Z", "2026-03-04T09:30:00Z"],
  ["across midnight, no whole day, long edges", "2026-03-03T02:00:00Z", "2026-03-04T23:00:00Z"],
];

describe("rollups + raw edges give exactly the raw-event results", () => {
  let prisma: PrismaClient;
  let raw: AnalyticsService;
  let rolled: AnalyticsService;
  const guildId = randomSnowflake();
  const random = prng(42);
  const pick = <T>(values: readonly T[]) => values[Math.floor(random() * values.length)]!;
  const users = Array.from({ length: 40 }, (_, i) => String(400000000000000000n + BigInt(i)));
  const channels = Array.from({ length: 5 }, (_, i) => String(500000000000000000n + BigInt(i)));
  const when = () => new Date(FROM + Math.floor(random() * SPAN));

  async function insertRandomEvents(count: number): Promise<void> {
    await prisma.messageEvent.createMany({
      data: Array.from({ length: count }, () => ({
        messageId: randomUUID(),
        guildId,
        channelId: pick(channels),
        userId: pick(users.slice(0, 30)),
        createdAt: when(),
      })),
    });
    await prisma.typingEvent.createMany({
      data: Array.from({ length: count }, () => ({
        guildId,
        channelId: pick(channels),
        userId: pick(users),
        startedAt: when(),
      })),
    });
    await prisma.presenceEvent.createMany({
      data: Array.from({ length: count / 2 }, () => {
        const platforms = [["desktop"], ["mobile"], ["web"], ["desktop", "web"], [], ["embedded"]][
          Math.floor(random() * 6)
        ]!;
        return {
          guildId,
          userId: pick(users),
          status: platforms.length ? "online" : "offline",
          platforms,
          createdAt: when(),
        };
      }),
    });
  }

  async function expectSameResults(): Promise<void> {
    for (const [, since, until] of WINDOWS) {
      for (const type of ["ghosts", "lurkers", "heatmap", "shifts", "clients"] as const) {
        for (const limit of [500, 7]) {
          const query = { guildId, since: new Date(since), until: new Date(until), limit };
          expect({ type, since, until, limit, result: await rolled.compute(type, query) }).toEqual({
            type,
            since,
            until,
            limit,
            result: await raw.compute(type, query),
          });
        }
      }
    }
  }

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    raw = createAnalyticsService({ prisma, rollups: false });
    rolled = createAnalyticsService({ prisma, rollups: true });
    await insertRandomEvents(600);
  });
  afterAll(async () => {
    await prisma?.$disconnect();
  });

  it("on windows with partial days and hours, within one day or hour, and on whole days", async () => {
    const sample = await raw.compute("shifts", {
      guildId,
      since: new Date(WINDOWS[0]![1]),
      until: new Date(WINDOWS[0]![2]),
      limit: 500,
    });
    expect(sample.total).toBeGreaterThan(20); // the data set is rich enough to compare something
    await expectSameResults();
  });

  it("after more inserts and after deletes (the triggers keep the rollups in step)", async () => {
    await insertRandomEvents(200);
    const victims = await prisma.messageEvent.findMany({ where: { guildId }, take: 50, select: { id: true } });
    await prisma.messageEvent.deleteMany({ where: { id: { in: victims.map((row) => row.id) } } });
    const typingVictims = await prisma.typingEvent.findMany({ where: { guildId }, take: 50, select: { id: true } });
    await prisma.typingEvent.deleteMany({ where: { id: { in: typingVictims.map((row) => row.id) } } });
    await expectSameResults();
  });
});
