import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createActivityRebuildRepository } from "../../../backend/src/activity/activity-rebuild-repository.ts";
import { registerActivityCommand } from "../../../backend/src/cli/activity-command.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { createIngestRepository } from "../../../backend/src/ingest/ingest-repository.ts";
import { randomSnowflake, TEST_DATABASE_URL, testLogger } from "../../support/test-env.ts";
import { startActivityKit, type ActivityKit } from "../../support/activity-support.ts";

describe("activity CLI (rebuild, cleanup --dry-run) on real Redis and PostgreSQL", () => {
  let prisma: PrismaClient;
  let kit: ActivityKit;
  const guildId = randomSnowflake();

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    kit = await startActivityKit();
    const now = Date.now();
    const rows = Array.from({ length: 5 }, (_, i) => ({
      kind: "message" as const,
      messageId: `${guildId}${i}`,
      guildId,
      channelId: "1",
      userId: String(10 + (i % 2)),
      contentLength: 1,
      createdAt: new Date(now - i * 60_000),
    }));
    await createIngestRepository(prisma).insertBatch("message", rows, crypto.randomUUID());
  });
  afterAll(async () => {
    await kit?.close();
    await prisma?.$disconnect();
  });

  async function cli(...args: string[]): Promise<string> {
    let output = "";
    const program = new Command()
      .exitOverride()
      .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerActivityCommand(program, {
      open: async () => ({
        structures: kit.structures,
        repository: () => createActivityRebuildRepository(prisma),
        logger: testLogger(),
        close: async () => undefined,
      }),
      write: (text) => void (output += text),
    });
    await program.parseAsync(["node", "spywatcher", ...args]);
    return output;
  }

  it("rebuilds a guild's counters from PostgreSQL", async () => {
    const output = await cli("activity", "rebuild", "--guild", guildId, "--since", "1h");
    expect(output).toMatch(/5 events replayed \(message 5, /);
    const timeline = await kit.reader.timeline(guildId, "messages", "hour", Date.now() - 3_600_000, Date.now());
    expect(timeline.total).toBe(5);
    expect(
      (await kit.reader.leaderboard(guildId, "users", "day", Date.now(), 10)).top.map((entry) => entry.score),
    ).toEqual([3, 2]);
  });

  it("refuses a bad guild id or time with exit status 2 before opening anything", async () => {
    await expect(cli("activity", "rebuild", "--guild", "12", "--since", "1h")).rejects.toMatchObject({ exitCode: 2 });
    await expect(cli("activity", "rebuild", "--guild", guildId, "--since", "yesterday")).rejects.toMatchObject({
      exitCode: 2,
    });
  });

  it("cleanup --dry-run counts without deleting", async () => {
    const output = await cli("activity", "cleanup", "--dry-run");
    expect(output).toMatch(
      /activity keys scanned: 0 past retention would be deleted, 0 without a TTL would be given theirs, 0 old streak days and 0 old minute\/hour counters would be trimmed \(dry run\)/,
    );
  });
});
