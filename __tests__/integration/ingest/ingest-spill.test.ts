import { randomUUID } from "node:crypto";
import { appendFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import type { IngestEvent } from "../../../backend/src/ingest/event-records.ts";
import { createIngestRepository } from "../../../backend/src/ingest/ingest-repository.ts";
import { IngestSpillFile } from "../../../backend/src/ingest/ingest-spill-file.ts";
import { IngestionWriter } from "../../../backend/src/ingest/ingestion-writer.ts";
import { replaySpill } from "../../../backend/src/ingest/spill-replay.ts";
import { SnowflakeGenerator } from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import { TcpProxy } from "../../support/tcp-proxy.ts";
import { randomSnowflake, TEST_DATABASE_URL, testLogger } from "../../support/test-env.ts";
import { capturingLogger } from "../../support/capturing-logger.ts";

const ids = new SnowflakeGenerator();

function events(guildId: string, count: number): IngestEvent[] {
  return Array.from({ length: count }, (_, index) =>
    index % 2 === 0
      ? {
          kind: "message" as const,
          messageId: ids.next(),
          guildId,
          channelId: "2000",
          userId: String(3000 + (index % 7)),
          contentLength: index,
          createdAt: new Date(),
        }
      : { kind: "typing" as const, guildId, channelId: "2000", userId: String(4000 + index), startedAt: new Date() },
  );
}

describe("ingestion spill: rows PostgreSQL did not take at shutdown are kept on disk and replayed", () => {
  let prisma: PrismaClient;
  let proxy: TcpProxy;
  let viaProxy: PrismaClient;
  let dir: string;

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    proxy = await TcpProxy.start("127.0.0.1", Number(new URL(TEST_DATABASE_URL).port || 5432));
    // A long client-side query timeout: close() must not wait for a hung attempt whatever the pool does.
    viaProxy = createPrismaClient({
      url: proxy.rewrite(TEST_DATABASE_URL),
      poolMax: 2,
      queryTimeoutMs: 60_000,
      connectionTimeoutMs: 60_000,
    });
    await viaProxy.$queryRaw`SELECT 1`;
    dir = await mkdtemp(path.join(tmpdir(), "spill-test-"));
  });
  afterAll(async () => {
    await proxy.close();
    await prisma.$disconnect();
    await viaProxy.$disconnect().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const count = async (guildId: string) =>
    (await prisma.messageEvent.count({ where: { guildId } })) +
    (await prisma.typingEvent.count({ where: { guildId } }));

  it("PostgreSQL black-holed at close: close() returns at its deadline, spills every row under its batch id; a replay stores each once", async () => {
    const guildId = randomSnowflake();
    const spill = new IngestSpillFile(path.join(dir, "a"));
    const { logger, lines } = capturingLogger();
    const writer = new IngestionWriter({
      repository: createIngestRepository(viaProxy),
      logger,
      spill,
      batchSize: 20,
      flushIntervalMs: 10,
      closeTimeoutMs: 500,
    });
    const first = events(guildId, 40);
    for (const event of first) writer.write(event);
    await writer.flush();
    await proxy.blackHole();
    // These rows' insert is sent and never answered (no error, no reset): the wedge close() must not wait for.
    for (const event of events(guildId, 70)) writer.write(event);
    const started = performance.now();
    await writer.close();
    const tookMs = performance.now() - started;
    expect(tookMs).toBeLessThan(2_000);
    expect(writer.stats()).toMatchObject({ written: 40, spilled: 70, abandonedOnClose: 0, buffered: 0 });
    expect(
      lines.some(
        (line) =>
          String(line.msg).startsWith("ingestion closed with rows PostgreSQL did not take") && line.spilled === 70,
      ),
    ).toBe(true);

    await proxy.restore();
    const replay = replaySpill({
      spill,
      repository: createIngestRepository(prisma),
      logger: testLogger(),
      retryBaseMs: 10,
      retryMaxMs: 50,
    });
    const stats = await replay.done;
    expect(stats).toMatchObject({ files: 1, rows: 70, badLines: 0, rejected: 0 });
    expect(await count(guildId)).toBe(110);
    expect(await readdir(spill.dir)).toEqual([]);
  });

  it("a batch whose attempt did commit is not stored twice; a torn last line is skipped, counted, and the file kept as .bad", async () => {
    const guildId = randomSnowflake();
    const spill = new IngestSpillFile(path.join(dir, "b"));
    const repository = createIngestRepository(prisma);
    // The batch's last attempt before shutdown committed (only its reply was lost), and it was spilled anyway.
    const batchId = randomUUID();
    const stored = {
      kind: "message" as const,
      messageId: ids.next(),
      guildId,
      channelId: "2000",
      userId: "3000",
      contentLength: 1,
      createdAt: new Date(),
    };
    await repository.insertBatch("message", [stored], batchId);
    const fresh = events(guildId, 4).filter((event) => event.kind === "typing");
    const file = await spill.write([
      { batchId, kind: "message", rows: [stored] },
      { batchId: randomUUID(), kind: "typing", rows: fresh },
    ]);
    await appendFile(file, '{"v":1,"batchId":"torn","kind":"typing","rows":[{"kind":"typ');
    const before = await count(guildId);
    const stats = await replaySpill({ spill, repository, logger: testLogger(), retryBaseMs: 10, retryMaxMs: 50 }).done;
    expect(stats).toMatchObject({ files: 1, batches: 2, alreadyStored: 1, rows: fresh.length, badLines: 1 });
    expect(await count(guildId)).toBe(before + fresh.length);
    expect(await readdir(spill.dir)).toEqual([`${path.basename(file)}.bad`]);
  });
});
