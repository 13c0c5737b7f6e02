import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { LimitedCollection, type GuildMember, type Collection } from "discord.js";
import { createDiscordBot, type DiscordBotOptions } from "../../../backend/src/bot/discord-bot.ts";
import { createPrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { createIngestRepository } from "../../../backend/src/ingest/ingest-repository.ts";
import { IngestionWriter } from "../../../backend/src/ingest/ingestion-writer.ts";
import {
  startFakeDiscord,
  type FakeDiscordOptions,
} from "../../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import type { FakeMember, FakeUser } from "../../../backend/src/simulation/fake-discord/fake-discord-types.ts";
import {
  guildMemberUpdateData,
  messageCreateData,
} from "../../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { testGuild, uniqueSnowflake, type TestGuild } from "../../support/fake-discord-guild.ts";
import { TEST_DATABASE_URL } from "../../support/test-env.ts";
import { capturingLogger } from "../../support/capturing-logger.ts";

/** `count` members absent from GUILD_CREATE (like most members of a large guild), none holding a role. */
function requestOnlyMembers(count: number, name = "member"): FakeMember[] {
  return Array.from({ length: count }, (_, index) => ({
    user: { id: uniqueSnowflake(), username: `${name}-${index}` },
    roles: [],
  }));
}

/** A test guild whose GUILD_CREATE lists its 4 usual members while `extra` more are served only on op 8. */
function largeGuild(extra: number): { t: TestGuild; dave: FakeUser; vip: { id: string; name: string } } {
  const t = testGuild();
  const dave: FakeUser = { id: uniqueSnowflake(), username: "dave" };
  const vip = { id: uniqueSnowflake(), name: "vip" };
  t.guild.roles.push(vip);
  t.guild.requestOnlyMembers = [{ user: dave, roles: [t.roles.mod.id] }, ...requestOnlyMembers(extra - 1)];
  return { t, dave, vip };
}

/** Fake Discord -> real bot -> ingestion writer on real PostgreSQL, with a logger whose lines the test can read. */
async function startHarness(
  guild: TestGuild,
  fakeOptions: Partial<FakeDiscordOptions> = {},
  botOptions: Partial<DiscordBotOptions> = {},
) {
  const { logger, lines } = capturingLogger();
  const prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
  const writer = new IngestionWriter({ repository: createIngestRepository(prisma), logger, flushIntervalMs: 20 });
  const fake = await startFakeDiscord({ guilds: [guild.guild], ...fakeOptions });
  const bot = createDiscordBot({
    token: "member-fetch-token",
    apiUrl: fake.apiUrl,
    logger,
    ingest: writer,
    ...botOptions,
  });
  const chunks: { guildId: string; index: number; count: number; size: number }[] = [];
  bot.client.on("guildMembersChunk", (members, chunkGuild, chunk) =>
    chunks.push({ guildId: chunkGuild.id, index: chunk.index, count: chunk.count, size: members.size }),
  );
  const startedAt = performance.now();
  const started = bot.start().then(() => performance.now() - startedAt);
  return {
    logger,
    lines,
    prisma,
    writer,
    fake,
    bot,
    chunks,
    /** Resolves with how long `start()` took. */
    started,
    /** Waits until `count` more records reached the writer, then makes them durable. */
    async ingested(before: number, count: number) {
      await vi.waitFor(() => expect(writer.stats().accepted).toBe(before + count), { timeout: 10_000, interval: 5 });
      await writer.flush();
    },
    async close() {
      await bot.stop();
      await fake.close();
      await writer.close();
      await prisma.$disconnect();
    },
  };
}
type Harness = Awaited<ReturnType<typeof startHarness>>;

const roleRows = (h: Harness, guildId: string, userId: string) =>
  h.prisma.roleChangeEvent
    .findMany({ where: { guildId, userId }, orderBy: [{ action: "asc" }, { roleName: "asc" }] })
    .then((rows) => rows.map(({ roleId, roleName, action }) => ({ roleId, roleName, action })));

describe("a large guild: members missing from GUILD_CREATE are fetched with op 8 at start", () => {
  let h: Harness;
  const { t, dave, vip } = largeGuild(2_500);

  beforeAll(async () => {
    h = await startHarness(t);
    await h.started;
  });
  afterAll(async () => h?.close());

  it("sends one op 8 for the guild (query '', limit 0, a nonce) and caches all 2,504 members from 3 chunks", () => {
    expect(h.fake.memberRequests).toEqual([
      { guildId: t.guild.id, query: "", limit: 0, userIds: undefined, presences: false, nonce: expect.any(String) },
    ]);
    expect(
      h.chunks
        .filter((chunk) => chunk.guildId === t.guild.id)
        .map(({ index, count, size }) => ({ index, count, size })),
    ).toEqual([
      { index: 0, count: 3, size: 1_000 },
      { index: 1, count: 3, size: 1_000 },
      { index: 2, count: 3, size: 504 },
    ]);
    const guild = h.bot.client.guilds.cache.get(t.guild.id)!;
    expect(guild.memberCount).toBe(2_504);
    expect(guild.members.cache.size).toBe(2_504);
    expect(guild.members.cache.get(dave.id)?.partial).toBe(false);
    expect(h.bot.memberFetchStats()).toMatchObject({ requested: 1, completed: 1, failed: 0, membersFetched: 2_504 });
    // start() resolved only after the lists arrived (well inside the default 10 s wait).
    expect(h.lines.some((line) => line.msg === "guild member lists loaded")).toBe(true);
  });

  it("keeps fetched members: the member cache is neither size-limited nor swept", () => {
    const guild = h.bot.client.guilds.cache.get(t.guild.id)!;
    expect(guild.members.cache).not.toBeInstanceOf(LimitedCollection);
    expect(Object.keys(h.bot.client.options.sweepers ?? {})).not.toContain("guildMembers");
    expect(Object.keys(h.bot.client.options.sweepers ?? {})).not.toContain("users");
  });

  it("records a role change of a member who was not in GUILD_CREATE: one row per role added and removed", async () => {
    const before = h.writer.stats().accepted;
    // dave held mod; he now holds helper and vip.
    h.fake.dispatch(
      "GUILD_MEMBER_UPDATE",
      guildMemberUpdateData({ guildId: t.guild.id, user: dave, roles: [t.roles.helper.id, vip.id] }),
    );
    await h.ingested(before, 3);
    expect(await roleRows(h, t.guild.id, dave.id)).toEqual([
      { roleId: t.roles.helper.id, roleName: "helper", action: "added" },
      { roleId: vip.id, roleName: "vip", action: "added" },
      { roleId: t.roles.mod.id, roleName: "mod", action: "removed" },
    ]);
    expect(h.lines.some((line) => line.userId === dave.id && String(line.msg).includes("previous roles unknown"))).toBe(
      false,
    );
  });

  it("keeps the partial fallback for a member it never fetched: skipped and logged at debug, no row", async () => {
    const stranger: FakeUser = { id: uniqueSnowflake(), username: "stranger" };
    const runs = h.bot.stats().guildMemberUpdate?.handled ?? 0;
    h.fake.dispatch(
      "GUILD_MEMBER_UPDATE",
      guildMemberUpdateData({ guildId: t.guild.id, user: stranger, roles: [t.roles.mod.id] }),
    );
    await vi.waitFor(() => expect(h.bot.stats().guildMemberUpdate?.handled).toBe(runs + 1), {
      timeout: 10_000,
      interval: 5,
    });
    await h.writer.flush();
    expect(h.lines.find((line) => line.userId === stranger.id)).toMatchObject({
      level: 20,
      msg: "guildMemberUpdate: previous roles unknown, not recorded",
    });
    expect(await roleRows(h, t.guild.id, stranger.id)).toEqual([]);
  });

  it("answers op 8 by user ids and by username prefix like Discord (not_found, limit)", async () => {
    const guild = h.bot.client.guilds.cache.get(t.guild.id)!;
    const missing = uniqueSnowflake();
    const byIds = (await guild.members.fetch({ user: [dave.id, t.humans[1].id, missing] })) as Collection<
      string,
      GuildMember
    >;
    expect([...byIds.keys()].sort()).toEqual([dave.id, t.humans[1].id].sort());
    expect(h.fake.memberRequests.at(-1)).toMatchObject({ userIds: [dave.id, t.humans[1].id, missing] });
    const byPrefix = await guild.members.fetch({ query: "member-1", limit: 5 });
    expect(byPrefix.size).toBe(5);
    expect([...byPrefix.values()].every((member) => member.user.username.startsWith("member-1"))).toBe(true);
  });

  it("fetches the members of a guild joined after start (guildCreate), then records their role changes", async () => {
    const joined = largeGuild(30);
    const requestsBefore = h.fake.memberRequests.length;
    expect(h.fake.addGuild(joined.t.guild)).toBe(1);
    await vi.waitFor(() => expect(h.bot.client.guilds.cache.get(joined.t.guild.id)?.members.cache.size).toBe(34), {
      timeout: 10_000,
      interval: 10,
    });
    expect(h.fake.memberRequests.slice(requestsBefore)).toEqual([
      expect.objectContaining({ guildId: joined.t.guild.id, query: "", limit: 0 }),
    ]);
    const before = h.writer.stats().accepted;
    h.fake.dispatch(
      "GUILD_MEMBER_UPDATE",
      guildMemberUpdateData({ guildId: joined.t.guild.id, user: joined.dave, roles: [] }),
    );
    await h.ingested(before, 1);
    expect(await roleRows(h, joined.t.guild.id, joined.dave.id)).toEqual([
      { roleId: joined.t.roles.mod.id, roleName: "mod", action: "removed" },
    ]);
  });
});

describe("a small guild whose GUILD_CREATE lists every member", () => {
  it("sends no op 8 (nothing to fetch) and starts at once", async () => {
    const h = await startHarness(testGuild());
    try {
      await h.started;
      expect(h.fake.memberRequests).toEqual([]);
      expect(h.bot.memberFetchStats()).toMatchObject({ requested: 1, skipped: 1, completed: 0, failed: 0 });
    } finally {
      await h.close();
    }
  });
});

describe("a fake Discord that never answers op 8", () => {
  let h: Harness;
  const { t, dave } = largeGuild(50);
  const waitMs = 300;
  const chunkTimeoutMs = 4_000;

  beforeAll(async () => {
    h = await startHarness(
      t,
      { answerMemberRequests: false },
      { memberFetchWaitMs: waitMs, memberFetch: { chunkTimeoutMs } },
    );
  });
  afterAll(async () => h?.close());

  it("start() resolves after the bounded wait, with the fetch still pending and a warning", async () => {
    const elapsed = await h.started;
    expect(elapsed).toBeGreaterThanOrEqual(waitMs);
    // Far below the fetch's own timeout: start was not held by the unanswered request.
    expect(elapsed).toBeLessThan(chunkTimeoutMs - 1_000);
    expect(h.fake.memberRequests).toHaveLength(1);
    expect(h.bot.memberFetchStats()).toMatchObject({ completed: 0, failed: 0 });
    expect(
      h.lines.find((line) => line.msg === "guild member lists still loading; bot started without waiting further"),
    ).toMatchObject({ level: 40 });
  });

  it("records other events meanwhile; an uncached member's role change falls back to the debug skip", async () => {
    const before = h.writer.stats().accepted;
    const messageId = uniqueSnowflake();
    h.fake.dispatch("GUILD_MEMBER_UPDATE", guildMemberUpdateData({ guildId: t.guild.id, user: dave, roles: [] }));
    h.fake.dispatch(
      "MESSAGE_CREATE",
      messageCreateData({ id: messageId, channelId: t.channelIds[0], guildId: t.guild.id, author: t.humans[1] }),
    );
    await h.ingested(before, 1);
    expect(await h.prisma.messageEvent.count({ where: { messageId } })).toBe(1);
    expect(h.lines.find((line) => line.userId === dave.id)).toMatchObject({
      level: 20,
      msg: "guildMemberUpdate: previous roles unknown, not recorded",
    });
    expect(await roleRows(h, t.guild.id, dave.id)).toEqual([]);
  });

  it("logs the timed-out fetch at error with the guild id, and the bot keeps running", async () => {
    await vi.waitFor(() => expect(h.bot.memberFetchStats().failed).toBe(1), {
      timeout: chunkTimeoutMs + 5_000,
      interval: 50,
    });
    expect(h.lines.find((line) => String(line.msg).startsWith("guild member fetch failed"))).toMatchObject({
      level: 50,
      guildId: t.guild.id,
      err: { message: "Members didn't arrive in time." },
    });
    expect(h.bot.client.isReady()).toBe(true);
  });
});

describe("a fake Discord that answers op 8 with RATE_LIMITED first", () => {
  it("waits out retry_after, asks again and caches every member", async () => {
    const { t } = largeGuild(20);
    const h = await startHarness(t, { rateLimitedMemberRequests: 1, memberRequestRetryAfterSeconds: 0.05 });
    try {
      await h.started;
      expect(h.fake.memberRequests.map((request) => request.guildId)).toEqual([t.guild.id, t.guild.id]);
      expect(h.bot.memberFetchStats()).toMatchObject({ rateLimited: 1, completed: 1, failed: 0 });
      expect(h.bot.client.guilds.cache.get(t.guild.id)?.members.cache.size).toBe(24);
      expect(h.lines.find((line) => line.msg === "guild member fetch rate limited; retrying")).toMatchObject({
        guildId: t.guild.id,
        retryAfterMs: 50,
      });
    } finally {
      await h.close();
    }
  });
});
