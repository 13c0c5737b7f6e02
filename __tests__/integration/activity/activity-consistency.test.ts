import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ACTIVITY_NAMESPACE } from "../../../backend/src/activity/activity-keys.ts";
import { METRIC_OF_KIND, type ActivityMetricType } from "../../../backend/src/activity/activity-metrics.ts";
import { createActivityRebuildRepository } from "../../../backend/src/activity/activity-rebuild-repository.ts";
import { rebuildActivity } from "../../../backend/src/activity/activity-rebuild.ts";
import { GRANULARITIES, type Granularity } from "../../../backend/src/activity/time-buckets.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import type { IngestEventKind } from "../../../backend/src/ingest/event-records.ts";
import {
  guildMemberAddData,
  guildMemberUpdateData,
  messageCreateData,
  messageDeleteData,
  presenceUpdateData,
  typingStartData,
} from "../../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { snowflakeAt } from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import { startBotPipeline, type BotPipeline } from "../../support/bot-pipeline.ts";
import { testGuild, uniqueSnowflake, type TestGuild } from "../../support/fake-discord-guild.ts";
import { TEST_DATABASE_URL, testLogger } from "../../support/test-env.ts";
import { startActivityKit, type ActivityKit } from "../../support/activity-support.ts";

/** Table and time column of each kind (PostgreSQL is the reference the Redis counters must equal). */
const TABLE: Record<IngestEventKind, [table: string, column: string]> = {
  message: ["message_events", "created_at"],
  messageDelete: ["message_delete_events", "deleted_at"],
  typing: ["typing_events", "started_at"],
  presence: ["presence_events", "created_at"],
  roleChange: ["role_change_events", "created_at"],
  memberJoin: ["member_join_events", "joined_at"],
};
/** date_trunc field of each granularity (PostgreSQL weeks are ISO weeks: Monday, as ours). */
const TRUNC: Record<Granularity, string> = { minute: "minute", hour: "hour", day: "day", week: "week", month: "month" };

const DAY_MS = 86_400_000;

describe("a simulated day through the real bot: Redis activity counts equal PostgreSQL counts for every bucket", () => {
  let prisma: PrismaClient;
  let kit: ActivityKit;
  let pipeline: BotPipeline;
  let t: TestGuild;
  const now = Date.now();
  const dayStart = now - DAY_MS + 60_000;
  let sent = 0;

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL });
    kit = await startActivityKit();
    t = testGuild();
    pipeline = await startBotPipeline({
      prisma,
      cache: { invalidateByTags: async () => undefined },
      guilds: [t],
      token: "activity-consistency",
      coalesceMs: 50,
      onDurableRows: (_kind, rows) => kit.recorder.recordEvents(rows),
    });
    await pipeline.fake.waitForClient();
    const { fake } = pipeline;
    const guildId = t.guild.id;
    // Deterministic pseudo-random spread over the last 24 hours, crossing minute/hour (and usually day) boundaries.
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const when = () => dayStart + Math.floor(random() * (now - dayStart));
    const messages: string[] = [];
    for (let i = 0; i < 400; i += 1) {
      const id = snowflakeAt(when(), i);
      messages.push(id);
      const author = t.humans[i % 3]!;
      fake.dispatch(
        "MESSAGE_CREATE",
        messageCreateData({ id, channelId: t.channelIds[i % 2]!, guildId, author, content: "hi" }),
      );
      sent += 1;
    }
    for (let i = 0; i < 200; i += 1) {
      // Typing timestamps are whole seconds on the wire.
      fake.dispatch(
        "TYPING_START",
        typingStartData({
          channelId: t.channelIds[i % 2]!,
          guildId,
          user: t.humans[(i + 1) % 3]!,
          at: new Date(Math.floor(when() / 1000) * 1000),
        }),
      );
      sent += 1;
    }
    for (let i = 0; i < 20; i += 1) {
      fake.dispatch(
        "MESSAGE_DELETE",
        messageDeleteData({ id: messages[i]!, channelId: t.channelIds[i % 2]!, guildId }),
      );
      sent += 1;
    }
    for (let i = 0; i < 15; i += 1) {
      fake.dispatch(
        "GUILD_MEMBER_ADD",
        guildMemberAddData({
          guildId,
          user: { id: uniqueSnowflake(), username: `new-${i}` },
          joinedAt: new Date(when()),
        }),
      );
      sent += 1;
    }
    const statuses = ["online", "idle", "dnd", "online"] as const;
    for (let i = 0; i < 12; i += 1) {
      const user = t.humans[i % 3]!;
      fake.dispatch(
        "PRESENCE_UPDATE",
        presenceUpdateData({
          guildId,
          userId: user.id,
          status: statuses[i % 4]!,
          clientStatus: i % 2 ? { desktop: statuses[i % 4]! } : { mobile: statuses[i % 4]! },
        }),
      );
    }
    fake.dispatch(
      "GUILD_MEMBER_UPDATE",
      guildMemberUpdateData({ guildId, user: t.humans[1], roles: [t.roles.helper.id] }),
    );
    // Everything the bot took in is durable, then recorded, then flushed.
    await vi.waitFor(async () => expect(pipeline.writer.stats().written).toBeGreaterThanOrEqual(sent), {
      timeout: 20_000,
      interval: 50,
    });
    await pipeline.writer.flush();
    await kit.recorder.flush();
  }, 60_000);

  afterAll(async () => {
    await pipeline?.close();
    await kit?.close();
    await prisma?.$disconnect();
  });

  const postgresCounts = async (kind: IngestEventKind, granularity: Granularity): Promise<Map<string, number>> => {
    const [table, column] = TABLE[kind];
    const rows = await prisma.$queryRawUnsafe<{ bucket: Date; n: number }[]>(
      `SELECT date_trunc('${TRUNC[granularity]}', ${column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket, count(*)::int AS n
       FROM ${table} WHERE guild_id = $1 GROUP BY 1`,
      t.guild.id,
    );
    return new Map(rows.map((row) => [row.bucket.toISOString(), row.n]));
  };

  /** Compares every metric's timeline at every granularity with PostgreSQL's counts; resolves with the buckets compared. */
  const expectRedisEqualsPostgres = async (): Promise<number> => {
    let compared = 0;
    for (const kind of Object.keys(TABLE) as IngestEventKind[]) {
      const metric = METRIC_OF_KIND[kind].type as ActivityMetricType;
      for (const granularity of GRANULARITIES) {
        const expected = await postgresCounts(kind, granularity);
        // Minutes: the simulated day exactly (1,441 buckets, under the 1,500 bound); the rest from a day earlier.
        const since = granularity === "minute" ? dayStart : dayStart - DAY_MS;
        const timeline = await kit.reader.timeline(t.guild.id, metric, granularity, since, Date.now());
        const redis = new Map(
          timeline.points.filter((point) => point.count > 0).map((point) => [point.start, point.count]),
        );
        expect(redis, `${metric} by ${granularity}`).toEqual(expected);
        compared += timeline.points.length;
      }
    }
    return compared;
  };

  it("matches for every metric, granularity and bucket (zeros included)", async () => {
    const compared = await expectRedisEqualsPostgres();
    // Every event kind was seen (the comparison is not vacuous).
    const totals = await Promise.all(
      (Object.keys(TABLE) as IngestEventKind[]).map(async (kind) =>
        [...(await postgresCounts(kind, "month")).values()].reduce((a, b) => a + b, 0),
      ),
    );
    expect(totals.every((n) => n > 0)).toBe(true);
    expect(compared).toBeGreaterThan(2_880);
  });

  it("ranks users and channels exactly as PostgreSQL counts them today", async () => {
    const board = await kit.reader.leaderboard(t.guild.id, "users", "day", now, 10);
    const rows = await prisma.$queryRaw<{ user_id: string; n: number }[]>`
      SELECT user_id, count(*)::int AS n FROM message_events
      WHERE guild_id = ${t.guild.id} AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
      GROUP BY user_id`;
    expect(Object.fromEntries(board.top.map((entry) => [entry.id, entry.score]))).toEqual(
      Object.fromEntries(rows.map((row) => [row.user_id, row.n])),
    );
  });

  it("rebuilds the same counts from PostgreSQL after the Redis side is lost", async () => {
    const before = await kit.reader.timeline(t.guild.id, "messages", "hour", dayStart - DAY_MS, Date.now());
    for await (const page of kit.structures.scan(`{${t.guild.id}}:*`)) await kit.structures.del(page);
    expect((await kit.reader.timeline(t.guild.id, "messages", "hour", dayStart - DAY_MS, Date.now())).total).toBe(0);
    const report = await rebuildActivity({
      structures: kit.cache.structures(ACTIVITY_NAMESPACE),
      repository: createActivityRebuildRepository(prisma),
      logger: testLogger(),
      guildId: t.guild.id,
      since: new Date(dayStart - DAY_MS),
      pageSize: 97,
    });
    expect(report.dropped).toBe(0);
    expect(report.events.message).toBe(400);
    const after = await kit.reader.timeline(t.guild.id, "messages", "hour", dayStart - DAY_MS, Date.now());
    expect(after.points).toEqual(before.points);
    await expectRedisEqualsPostgres();
  });

  it("rebuilds from a time inside an hour, day, week and month without counting the events before it twice", async () => {
    // 5 h 30 min ago: the hour, day, week and month holding it started earlier and hold simulated events before it.
    const since = new Date(now - 5.5 * 3_600_000);
    const report = await rebuildActivity({
      structures: kit.cache.structures(ACTIVITY_NAMESPACE),
      repository: createActivityRebuildRepository(prisma),
      logger: testLogger(),
      guildId: t.guild.id,
      since,
      pageSize: 97,
    });
    expect(report).toMatchObject({
      from: new Date(Math.floor(since.getTime() / 60_000) * 60_000).toISOString(),
      dropped: 0,
    });
    // Minute and hour counters from before `since` stay in the day's and month's hashes; those after it were deleted from them.
    expect(report.deletedFields).toBeGreaterThan(0);
    expect(Date.parse(report.readFrom)).toBeLessThanOrEqual(since.getTime() - 86_400_000 + 1);
    await expectRedisEqualsPostgres();
    const board = await kit.reader.leaderboard(t.guild.id, "users", "week", now, 10);
    const rows = await prisma.$queryRaw<{ user_id: string; n: number }[]>`
      SELECT user_id, count(*)::int AS n FROM message_events
      WHERE guild_id = ${t.guild.id} AND created_at >= date_trunc('week', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
      GROUP BY user_id`;
    expect(Object.fromEntries(board.top.map((entry) => [entry.id, entry.score]))).toEqual(
      Object.fromEntries(rows.map((row) => [row.user_id, row.n])),
    );
  });
});
