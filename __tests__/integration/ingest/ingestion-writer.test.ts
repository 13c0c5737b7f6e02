import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import type {
  IngestEvent,
  MessageRecord,
  RoleChangeRecord,
  TypingRecord,
} from "../../../backend/src/ingest/event-records.ts";
import { createIngestRepository } from "../../../backend/src/ingest/ingest-repository.ts";
import { IngestionWriter } from "../../../backend/src/ingest/ingestion-writer.ts";
import { SnowflakeGenerator } from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import { randomSnowflake, TEST_DATABASE_URL, testLogger } from "../../support/test-env.ts";
import { capturingLogger } from "../../support/capturing-logger.ts";
import { SwitchableRepository } from "./repository-wrappers.ts";
import { TcpProxy } from "../../support/tcp-proxy.ts";

const ids = new SnowflakeGenerator();

function messages(guildId: string, count: number): MessageRecord[] {
  return Array.from({ length: count }, (_, index) => ({
    kind: "message" as const,
    messageId: ids.next(),
    guildId,
    channelId: "2000",
    userId: String(3000 + (index % 7)),
    contentLength: index,
    createdAt: new Date(),
  }));
}

function typings(guildId: string, count: number): TypingRecord[] {
  return Array.from({ length: count }, (_, index) => ({
    kind: "typing" as const,
    guildId,
    channelId: "2000",
    userId: String(4000 + index),
    startedAt: new Date(),
  }));
}

describe("IngestionWriter against real PostgreSQL", () => {
  let prisma: PrismaClient;
  const writers: IngestionWriter[] = [];
  const track = (writer: IngestionWriter) => {
    writers.push(writer);
    return writer;
  };

  const countRows = async (guildId: string) => ({
    messages: await prisma.messageEvent.count({ where: { guildId } }),
    typing: await prisma.typingEvent.count({ where: { guildId } }),
    roles: await prisma.roleChangeEvent.count({ where: { guildId } }),
  });

  beforeAll(() => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
  });
  afterEach(async () => {
    await Promise.all(writers.splice(0).map((writer) => writer.close()));
  });
  afterAll(() => prisma.$disconnect());

  it("starts writing a table the moment it holds batchSize rows, never more than batchSize per statement", async () => {
    const guildId = randomSnowflake();
    const repository = new SwitchableRepository(createIngestRepository(prisma));
    const writer = track(
      new IngestionWriter({ repository, logger: testLogger(), batchSize: 500, flushIntervalMs: 60_000 }),
    );
    const rows = messages(guildId, 1_200);
    for (const record of rows.slice(0, 499)) writer.write(record);
    // The size limit starts a write synchronously inside write(): below it nothing has been sent.
    expect(repository.calls).toBe(0);
    writer.write(rows[499]!);
    expect(repository.calls).toBe(1);
    // Without flush() and long before the one-minute time limit, the first batch becomes durable.
    await vi.waitFor(() => expect(writer.stats().written).toBeGreaterThanOrEqual(500), {
      timeout: 10_000,
      interval: 10,
    });

    for (const record of rows.slice(500)) writer.write(record);
    await writer.flush();
    expect(writer.stats()).toMatchObject({ written: 1_200, batches: 3, buffered: 0, accepted: 1_200 });
    expect((await countRows(guildId)).messages).toBe(1_200);
  });

  it("writes a small batch once its oldest row reaches flushIntervalMs", async () => {
    const guildId = randomSnowflake();
    const writer = track(
      new IngestionWriter({
        repository: createIngestRepository(prisma),
        logger: testLogger(),
        batchSize: 500,
        flushIntervalMs: 150,
      }),
    );
    const started = performance.now();
    for (const record of typings(guildId, 3)) writer.write(record);
    await vi.waitFor(() => expect(writer.stats().written).toBe(3), { timeout: 5_000, interval: 10 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(writer.stats().batches).toBe(1);
    expect((await countRows(guildId)).typing).toBe(3);
  });

  it("reports each durable batch per guild, with its kinds and row count", async () => {
    const [a, b] = [randomSnowflake(), randomSnowflake()];
    const reported: [string, string[], number][] = [];
    const writer = track(
      new IngestionWriter({
        repository: createIngestRepository(prisma),
        logger: testLogger(),
        onDurable: (guildId, kinds, events) => reported.push([guildId, kinds, events]),
      }),
    );
    for (const record of [...messages(a, 3), ...messages(b, 2), ...typings(a, 4)]) writer.write(record);
    await writer.flush();
    expect(reported.sort()).toEqual(
      [
        [a, ["message"], 3],
        [a, ["typing"], 4],
        [b, ["message"], 2],
      ].sort(),
    );
  });

  it("a message sent again in another batch is stored once (ON CONFLICT on message_id)", async () => {
    const guildId = randomSnowflake();
    const batch = messages(guildId, 50);
    const repository = createIngestRepository(prisma);
    expect(await repository.insertBatch("message", batch, randomUUID())).toEqual({ inserted: 50, replayed: false });
    expect(await repository.insertBatch("message", [...batch, ...messages(guildId, 5)], randomUUID())).toEqual({
      inserted: 5,
      replayed: false,
    });
    expect((await countRows(guildId)).messages).toBe(55);
  });

  it("retries through a real PostgreSQL outage (connections cut) and loses nothing", async () => {
    const proxy = await TcpProxy.start("127.0.0.1", Number(new URL(TEST_DATABASE_URL).port || 5432));
    const proxied = createPrismaClient({
      url: proxy.rewrite(TEST_DATABASE_URL),
      poolMax: 2,
      connectionTimeoutMs: 1_000,
    });
    const guildId = randomSnowflake();
    const durable: number[] = [];
    const { logger, lines } = capturingLogger();
    const writer = track(
      new IngestionWriter({
        repository: createIngestRepository(proxied),
        logger,
        batchSize: 200,
        flushIntervalMs: 20,
        maxBufferedRows: 10_000,
        retryBaseMs: 20,
        retryMaxMs: 200,
        onDurable: (_guild, _kinds, events) => durable.push(events),
      }),
    );
    try {
      for (const record of messages(guildId, 300)) writer.write(record);
      await writer.flush();
      expect(writer.stats().written).toBe(300);

      await proxy.cut();
      const durableBefore = durable.length;
      for (const record of [...messages(guildId, 2_000), ...typings(guildId, 500)]) writer.write(record);
      await vi.waitFor(() => expect(writer.stats().failedAttempts).toBeGreaterThanOrEqual(4), {
        timeout: 10_000,
        interval: 20,
      });
      expect(writer.stats().written).toBe(300);
      // Nothing is reported durable while PostgreSQL is away.
      expect(durable.length).toBe(durableBefore);

      await proxy.restore();
      await writer.flush();
      expect(writer.stats()).toMatchObject({ written: 2_800, dropped: 0, rejected: 0, buffered: 0 });
      expect(writer.stats().retried).toBeGreaterThan(0);
      expect(await countRows(guildId)).toMatchObject({ messages: 2_300, typing: 500 });
      expect(durable.reduce((sum, events) => sum + events, 0)).toBe(2_800);
      expect(lines.some((line) => line.msg === "ingestion write failed: retrying with backoff")).toBe(true);
      expect(lines.some((line) => line.msg === "ingestion writes recovered")).toBe(true);
    } finally {
      await writer.close();
      await proxied.$disconnect();
      await proxy.cut();
    }
  });

  it("when the buffer is full, counts and logs the overflow, and writes every row it kept", async () => {
    const guildId = randomSnowflake();
    const repository = new SwitchableRepository(createIngestRepository(prisma));
    const { logger, lines } = capturingLogger();
    const writer = track(
      new IngestionWriter({
        repository,
        logger,
        batchSize: 50,
        flushIntervalMs: 10,
        maxBufferedRows: 100,
        retryBaseMs: 10,
        retryMaxMs: 50,
      }),
    );
    repository.down = true;
    const accepted = messages(guildId, 150).map((record) => writer.write(record));
    expect(accepted.filter(Boolean)).toHaveLength(100);
    expect(writer.stats()).toMatchObject({ dropped: 50, buffered: 100 });
    expect(lines.filter((line) => line.msg === "ingestion buffer full: dropping events")).toHaveLength(1);
    await vi.waitFor(() => expect(repository.calls).toBeGreaterThanOrEqual(3), { timeout: 5_000, interval: 10 });

    repository.down = false;
    await writer.flush();
    expect(writer.stats()).toMatchObject({ written: 100, dropped: 50, buffered: 0 });
    expect((await countRows(guildId)).messages).toBe(100);
  });

  it("isolates a row PostgreSQL refuses, writes the rest of its batch, and logs it", async () => {
    const guildId = randomSnowflake();
    const { logger, lines } = capturingLogger();
    const writer = track(new IngestionWriter({ repository: createIngestRepository(prisma), logger }));
    const rows: RoleChangeRecord[] = Array.from({ length: 10 }, (_, index) => ({
      kind: "roleChange",
      guildId,
      userId: "5000",
      roleId: String(6000 + index),
      // PostgreSQL text cannot hold NUL: a data error (SQLSTATE 22021) no retry can fix.
      roleName: index === 6 ? "bad\u0000name" : `role-${index}`,
      action: "added",
      createdAt: new Date(),
    }));
    for (const row of rows) writer.write(row);
    await writer.flush();
    expect(writer.stats()).toMatchObject({ written: 9, rejected: 1, buffered: 0, retried: 0 });
    expect((await countRows(guildId)).roles).toBe(9);
    expect(
      lines.some(
        (line) => line.msg === "ingestion: PostgreSQL rejected a row; it is not retried" && line.guildId === guildId,
      ),
    ).toBe(true);
  });

  it("close() drains the buffer; with the database still down it gives up after closeTimeoutMs, counted and logged", async () => {
    const guildId = randomSnowflake();
    const good = track(
      new IngestionWriter({
        repository: createIngestRepository(prisma),
        logger: testLogger(),
        flushIntervalMs: 60_000,
      }),
    );
    for (const record of typings(guildId, 42)) good.write(record);
    await good.close();
    expect((await countRows(guildId)).typing).toBe(42);
    expect(good.write(typings(guildId, 1)[0]!)).toBe(false);

    const repository = new SwitchableRepository(createIngestRepository(prisma));
    repository.down = true;
    const { logger, lines } = capturingLogger();
    const stuck = track(
      new IngestionWriter({ repository, logger, batchSize: 10, retryBaseMs: 10, retryMaxMs: 20, closeTimeoutMs: 300 }),
    );
    const events: IngestEvent[] = [...messages(guildId, 25), ...typings(guildId, 5)];
    for (const record of events) stuck.write(record);
    const started = performance.now();
    await stuck.close();
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(stuck.stats()).toMatchObject({ abandonedOnClose: 30, buffered: 0, written: 0 });
    expect(
      lines.some(
        (line) =>
          line.msg === "ingestion closed with rows it could not write (no spill configured)" && line.abandoned === 30,
      ),
    ).toBe(true);
  });
});
