import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { INGEST_EVENT_KINDS } from "../../../backend/src/ingest/event-kinds/index.ts";
import type { IngestEvent, IngestEventKind } from "../../../backend/src/ingest/event-records.ts";
import { createIngestRepository } from "../../../backend/src/ingest/ingest-repository.ts";
import { IngestionWriter } from "../../../backend/src/ingest/ingestion-writer.ts";
import { SnowflakeGenerator } from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import { randomSnowflake, TEST_DATABASE_URL, testLogger } from "../../support/test-env.ts";
import { LostReplyProxy } from "./lost-reply-proxy.ts";
import { LostReplyRepository } from "./repository-wrappers.ts";

const ids = new SnowflakeGenerator();
const HOUR = 3_600_000;
// Spread over two days and a few hours so the rollups have several day and hour rows per user and channel.
const at = (index: number) => new Date(Date.UTC(2026, 10, 20, 22) + (index % 5) * HOUR + (index % 3) * 24 * HOUR);

/** `count` records of every kind for one guild, over 4 users and 3 channels. */
function eventsOf(guildId: string, count: number): Record<IngestEventKind, IngestEvent[]> {
  const user = (i: number) => String(7000 + (i % 4));
  const channel = (i: number) => String(8000 + (i % 3));
  const range = <T>(make: (i: number) => T) => Array.from({ length: count }, (_, i) => make(i));
  return {
    message: range((i) => ({
      kind: "message",
      messageId: ids.next(),
      guildId,
      channelId: channel(i),
      userId: user(i),
      contentLength: i,
      createdAt: at(i),
    })),
    messageDelete: range((i) => ({
      kind: "messageDelete",
      messageId: ids.next(),
      guildId,
      channelId: channel(i),
      userId: i % 2 ? user(i) : null,
      deletedAt: at(i),
    })),
    typing: range((i) => ({ kind: "typing", guildId, channelId: channel(i), userId: user(i), startedAt: at(i) })),
    presence: range((i) => ({
      kind: "presence",
      guildId,
      userId: user(i),
      status: "online",
      platforms: i % 2 ? ["desktop", "web"] : ["mobile"],
      createdAt: at(i),
    })),
    roleChange: range((i) => ({
      kind: "roleChange",
      guildId,
      userId: user(i),
      roleId: String(9000 + i),
      roleName: `r${i}`,
      action: i % 2 ? "added" : "removed",
      createdAt: at(i),
    })),
    memberJoin: range((i) => ({
      kind: "memberJoin",
      guildId,
      userId: user(i),
      accountCreatedAt: new Date(Date.UTC(2020, 0, 1)),
      accountAgeDays: 2_000,
      joinedAt: at(i),
    })),
  };
}

describe("ingestion retries are idempotent for every event table", () => {
  let prisma: PrismaClient;
  const cleanups: (() => Promise<unknown>)[] = [];

  const tableCounts = async (guildId: string): Promise<Record<IngestEventKind, number>> => ({
    message: await prisma.messageEvent.count({ where: { guildId } }),
    messageDelete: await prisma.messageDeleteEvent.count({ where: { guildId } }),
    typing: await prisma.typingEvent.count({ where: { guildId } }),
    presence: await prisma.presenceEvent.count({ where: { guildId } }),
    roleChange: await prisma.roleChangeEvent.count({ where: { guildId } }),
    memberJoin: await prisma.memberJoinEvent.count({ where: { guildId } }),
  });

  /** Each rollup table next to the same figures computed from the raw rows, as sorted JSON lines. */
  const rollupsVsRaw = async (guildId: string) => {
    const lines = (rows: unknown[]) => rows.map((row) => JSON.stringify(row)).sort();
    const q = async (sql: TemplateStringsArray) =>
      lines(await prisma.$queryRawUnsafe<unknown[]>(sql.join(""), guildId));
    return {
      dailyRollup:
        await q`SELECT day::text, user_id, messages, typing FROM user_activity_daily WHERE guild_id = $1 AND (messages <> 0 OR typing <> 0)`,
      dailyRaw: await q`SELECT day::text, user_id, sum(m)::int AS messages, sum(t)::int AS typing FROM (
          SELECT (created_at AT TIME ZONE 'UTC')::date AS day, user_id, 1 AS m, 0 AS t FROM message_events WHERE guild_id = $1
          UNION ALL SELECT (started_at AT TIME ZONE 'UTC')::date, user_id, 0, 1 FROM typing_events WHERE guild_id = $1) e GROUP BY 1, 2`,
      hourlyRollup:
        await q`SELECT hour::text, channel_id, messages, typing FROM channel_activity_hourly WHERE guild_id = $1 AND (messages <> 0 OR typing <> 0)`,
      hourlyRaw: await q`SELECT hour::text, channel_id, sum(m)::int AS messages, sum(t)::int AS typing FROM (
          SELECT date_trunc('hour', created_at, 'UTC') AS hour, channel_id, 1 AS m, 0 AS t FROM message_events WHERE guild_id = $1
          UNION ALL SELECT date_trunc('hour', started_at, 'UTC'), channel_id, 0, 1 FROM typing_events WHERE guild_id = $1) e GROUP BY 1, 2`,
      presenceRollup:
        await q`SELECT day::text, user_id, presence_count, platform_mask FROM user_presence_daily WHERE guild_id = $1`,
      presenceRaw:
        await q`SELECT (created_at AT TIME ZONE 'UTC')::date::text AS day, user_id, count(*)::int AS presence_count,
          bit_or(analytics_platform_mask(platforms)) AS platform_mask FROM presence_events WHERE guild_id = $1 GROUP BY 1, 2`,
    };
  };

  const expectRollupsMatchRaw = async (guildId: string, typing: number, presence: number) => {
    const r = await rollupsVsRaw(guildId);
    expect(r.dailyRollup).toEqual(r.dailyRaw);
    expect(r.hourlyRollup).toEqual(r.hourlyRaw);
    expect(r.presenceRollup).toEqual(r.presenceRaw);
    // The rollups hold exactly one count per stored event, not one per attempt.
    const total = (lines: string[], field: string) =>
      lines.reduce((sum, line) => sum + (JSON.parse(line)[field] as number), 0);
    expect(total(r.dailyRollup, "typing")).toBe(typing);
    expect(total(r.hourlyRollup, "typing")).toBe(typing);
    expect(total(r.presenceRollup, "presence_count")).toBe(presence);
  };

  beforeAll(() => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(() => prisma.$disconnect());

  it("a batch of each kind that committed but lost its reply is retried with the same id and stored once; rollups agree", async () => {
    const guildId = randomSnowflake();
    const repository = new LostReplyRepository(createIngestRepository(prisma), [...INGEST_EVENT_KINDS]);
    const durable = new Map<string, number>();
    const writer = new IngestionWriter({
      repository,
      logger: testLogger(),
      retryBaseMs: 5,
      retryMaxMs: 20,
      onDurable: (_guild, kinds, events) => durable.set(kinds.join(), (durable.get(kinds.join()) ?? 0) + events),
    });
    cleanups.push(() => writer.close());
    const events = eventsOf(guildId, 60);
    for (const kind of INGEST_EVENT_KINDS) for (const record of events[kind]) writer.write(record);
    await writer.flush();

    for (const kind of INGEST_EVENT_KINDS) {
      const calls = repository.seen.filter((call) => call.kind === kind);
      // The first attempt really committed its 60 rows; the retry carried the same id and rows and inserted none.
      expect(calls).toEqual([
        { kind, batchId: calls[0]!.batchId, rows: 60, result: { inserted: 60, replayed: false }, replyLost: true },
        { kind, batchId: calls[0]!.batchId, rows: 60, result: { inserted: 0, replayed: true }, replyLost: false },
      ]);
      expect(durable.get(kind)).toBe(60);
    }
    expect(await tableCounts(guildId)).toEqual({
      message: 60,
      messageDelete: 60,
      typing: 60,
      presence: 60,
      roleChange: 60,
      memberJoin: 60,
    });
    expect(writer.stats()).toMatchObject({
      written: 360,
      batches: 6,
      failedAttempts: 6,
      retried: 6,
      replayedBatches: 6,
      buffered: 0,
    });
    await expectRollupsMatchRaw(guildId, 60, 60);
  });

  it("a real connection cut after COMMIT (reply lost on the wire) does not double typing or presence rows", async () => {
    const proxy = await LostReplyProxy.start("127.0.0.1", Number(new URL(TEST_DATABASE_URL).port || 5432));
    cleanups.push(() => proxy.close());
    const proxied = createPrismaClient({
      url: proxy.rewrite(TEST_DATABASE_URL),
      poolMax: 2,
      connectionTimeoutMs: 2_000,
    });
    cleanups.push(() => proxied.$disconnect());
    const writer = new IngestionWriter({
      repository: createIngestRepository(proxied),
      logger: testLogger(),
      batchSize: 500,
      retryBaseMs: 10,
      retryMaxMs: 50,
    });
    cleanups.push(() => writer.close());
    const guildId = randomSnowflake();
    const events = eventsOf(guildId, 400);

    proxy.arm("INSERT INTO typing_events");
    for (const record of events.typing) writer.write(record);
    await writer.flush();
    expect(proxy.cuts).toBe(1);
    proxy.arm("INSERT INTO presence_events");
    for (const record of events.presence) writer.write(record);
    await writer.flush();
    expect(proxy.cuts).toBe(2);

    // Each cut batch had committed (the server had sent ReadyForQuery) and was found stored when retried.
    expect(writer.stats()).toMatchObject({
      written: 800,
      batches: 2,
      failedAttempts: 2,
      replayedBatches: 2,
      buffered: 0,
    });
    expect(await tableCounts(guildId)).toMatchObject({ typing: 400, presence: 400 });
    await expectRollupsMatchRaw(guildId, 400, 400);
  });

  it("a batch split after a data error writes its good rows under new ids, once", async () => {
    const guildId = randomSnowflake();
    const repository = new LostReplyRepository(createIngestRepository(prisma), ["typing"], 1);
    const writer = new IngestionWriter({ repository, logger: testLogger(), retryBaseMs: 5, retryMaxMs: 20 });
    cleanups.push(() => writer.close());
    // PostgreSQL text cannot hold NUL: row 5 fails its statement (SQLSTATE 22021), marker included.
    const rows = eventsOf(guildId, 8).typing.map((row, i) => (i === 5 ? { ...row, channelId: "bad\u0000" } : row));
    for (const record of rows) writer.write(record);
    await writer.flush();

    // Statements that failed on the bad row never reach `seen`. What did commit: rows 0-3 (reply lost, then
    // replayed under the same id), row 4 and rows 6-7, each half under an id of its own.
    const seen = repository.seen.map((call) => ({ rows: call.rows, ...call.result, replyLost: call.replyLost }));
    expect(seen).toEqual([
      { rows: 4, inserted: 4, replayed: false, replyLost: true },
      { rows: 4, inserted: 0, replayed: true, replyLost: false },
      { rows: 1, inserted: 1, replayed: false, replyLost: false },
      { rows: 2, inserted: 2, replayed: false, replyLost: false },
    ]);
    const batchIds = repository.seen.map((call) => call.batchId);
    expect(batchIds[1]).toBe(batchIds[0]);
    expect(new Set(batchIds).size).toBe(3);
    expect(writer.stats()).toMatchObject({ written: 7, rejected: 1, replayedBatches: 1, buffered: 0 });
    expect((await tableCounts(guildId)).typing).toBe(7);
    await expectRollupsMatchRaw(guildId, 7, 0);
  });

  it("prunes markers older than the retention, keeps younger ones; a pruned id is no longer recognised", async () => {
    const repository = createIngestRepository(prisma);
    const guildId = randomSnowflake();
    const [old, fresh] = [randomUUID(), randomUUID()];
    const { typing } = eventsOf(guildId, 3);
    await repository.insertBatch("typing", typing.slice(0, 1), old);
    await prisma.ingestBatch.update({ where: { batchId: old }, data: { createdAt: new Date(Date.now() - 25 * HOUR) } });

    // The writer prunes after its first successful write (default retention 24 h, at most once a minute).
    const writer = new IngestionWriter({ repository, logger: testLogger() });
    cleanups.push(() => writer.close());
    writer.write(typing[1]!);
    await writer.flush();
    expect(writer.stats().prunedMarkers).toBeGreaterThanOrEqual(1);
    expect(await prisma.ingestBatch.findUnique({ where: { batchId: old } })).toBeNull();

    await repository.insertBatch("typing", typing.slice(2, 3), fresh);
    expect(await repository.pruneBatchMarkers(24 * HOUR)).toBe(0);
    expect(await prisma.ingestBatch.findUnique({ where: { batchId: fresh } })).not.toBeNull();
    // Why markers must outlive every retry: once pruned, the same id is new again and its rows go in again.
    expect(await repository.insertBatch("typing", typing.slice(0, 1), old)).toEqual({ inserted: 1, replayed: false });
    expect((await tableCounts(guildId)).typing).toBe(4);
  });
});
