import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { guildAnalyticsTag } from "../../../backend/src/analytics/analytics-catalog.ts";
import { analyticsAffectedBy } from "../../../backend/src/invalidation/invalidation-table.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import type { IngestionWriter } from "../../../backend/src/ingest/ingestion-writer.ts";
import type {
  CacheInvalidationService,
  TagInvalidator,
} from "../../../backend/src/invalidation/cache-invalidation-service.ts";
import type { FakeDiscord } from "../../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import { startBotPipeline, type BotPipeline } from "../../support/bot-pipeline.ts";
import {
  messageCreateData,
  presenceUpdateData,
} from "../../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { SnowflakeGenerator } from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import { testGuild, type TestGuild } from "../../support/fake-discord-guild.ts";
import { TEST_DATABASE_URL } from "../../support/test-env.ts";

/** Records each invalidateByTags call with its time (the cache engine's own tests cover what a call does in Redis). */
class TimedRecorder implements TagInvalidator {
  readonly calls: { at: number; tags: string[] }[] = [];
  async invalidateByTags(tags: string[]): Promise<void> {
    this.calls.push({ at: performance.now(), tags });
  }
}

describe("a burst of 10,000 messages in one guild: gateway -> bot -> PostgreSQL -> coalesced invalidation", () => {
  const COALESCE_MS = 250;
  let pipeline: BotPipeline;
  let fake: FakeDiscord;
  let prisma: PrismaClient;
  let writer: IngestionWriter;
  let invalidation: CacheInvalidationService;
  let recorder: TimedRecorder;
  let busy: TestGuild;
  let quiet: TestGuild;

  beforeAll(async () => {
    busy = testGuild();
    quiet = testGuild();
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
    recorder = new TimedRecorder();
    pipeline = await startBotPipeline({
      prisma,
      cache: recorder,
      guilds: [busy, quiet],
      token: "burst",
      coalesceMs: COALESCE_MS,
    });
    ({ fake, writer, invalidation } = pipeline);
  });
  afterAll(async () => {
    await pipeline?.close();
    await prisma?.$disconnect();
  });

  it("stores every message and invalidates the busy guild at most once per window, never touching the other guild", async () => {
    const ids = new SnowflakeGenerator();
    const started = performance.now();
    for (let i = 0; i < 10_000; i += 1) {
      const author = busy.humans[i % 3]!;
      fake.dispatch(
        "MESSAGE_CREATE",
        messageCreateData({
          id: ids.next(),
          channelId: busy.channelIds[i % 2]!,
          guildId: busy.guild.id,
          author,
          content: "x",
        }),
      );
    }
    await vi.waitFor(() => expect(writer.stats().accepted).toBe(10_000), { timeout: 20_000, interval: 20 });
    await vi.waitFor(() => expect(writer.stats().written).toBe(10_000), { timeout: 20_000, interval: 20 });
    // Let the last window end by itself so the count below is the steady-state one, not one forced by flush().
    await vi.waitFor(() => expect(invalidation.stats().pendingGuilds).toBe(0), { timeout: 5_000, interval: 20 });
    const elapsed = performance.now() - started;

    expect(await prisma.messageEvent.count({ where: { guildId: busy.guild.id } })).toBe(10_000);
    expect(writer.stats()).toMatchObject({ dropped: 0, failedAttempts: 0 });

    const windowsElapsed = Math.ceil(elapsed / COALESCE_MS);
    const calls = recorder.calls;
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls.length).toBeLessThanOrEqual(windowsElapsed + 1);
    // Consecutive invalidations of one guild are at least a window apart.
    for (let i = 1; i < calls.length; i += 1)
      expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(COALESCE_MS - 5);
    // The message analytics (the table itself is pinned by the unit test of invalidation-table.ts).
    const expectedTags = analyticsAffectedBy(["message"]).map((type) => guildAnalyticsTag(type, busy.guild.id));
    for (const call of calls) expect(call.tags).toEqual(expectedTags);
    expect(invalidation.stats()).toMatchObject({
      events: 10_000,
      invalidations: calls.length,
      coalescedEvents: 10_000 - calls.length,
    });
    expect(calls.flatMap((call) => call.tags).some((tag) => tag.includes(quiet.guild.id))).toBe(false);
  });

  it("an event in the other guild invalidates only that guild's affected analytics", async () => {
    const before = recorder.calls.length;
    fake.dispatch(
      "PRESENCE_UPDATE",
      presenceUpdateData({
        guildId: quiet.guild.id,
        userId: quiet.humans[0].id,
        status: "online",
        clientStatus: { web: "online" },
      }),
    );
    await vi.waitFor(() => expect(recorder.calls.length).toBe(before + 1), { timeout: 5_000, interval: 10 });
    expect(recorder.calls.at(-1)!.tags).toEqual([
      guildAnalyticsTag("lurkers", quiet.guild.id),
      guildAnalyticsTag("clients", quiet.guild.id),
    ]);
  });
});
