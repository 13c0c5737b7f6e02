import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createDiscordBot, type DiscordBot } from "../../../backend/src/bot/discord-bot.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import type { IngestEvent } from "../../../backend/src/ingest/event-records.ts";
import { createIngestRepository } from "../../../backend/src/ingest/ingest-repository.ts";
import { IngestionWriter } from "../../../backend/src/ingest/ingestion-writer.ts";
import {
  startFakeDiscord,
  type FakeDiscord,
} from "../../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import {
  dmChannelCreateData,
  guildMemberAddData,
  guildMemberUpdateData,
  messageCreateData,
  messageDeleteData,
  presenceUpdateData,
  typingStartData,
} from "../../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { snowflakeAt, snowflakeTime } from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import { testGuild, uniqueSnowflake, type TestGuild } from "../../support/fake-discord-guild.ts";
import { TEST_DATABASE_URL } from "../../support/test-env.ts";
import { capturingLogger } from "../../support/capturing-logger.ts";

describe("the real discord.js bot, driven by the fake Discord, writing to real PostgreSQL", () => {
  let fake: FakeDiscord;
  let bot: DiscordBot;
  let prisma: PrismaClient;
  let writer: IngestionWriter;
  let t: TestGuild;
  const { logger, lines } = capturingLogger();
  // A sink wrapping the real writer that throws on one chosen message, to show a failing listener is contained.
  let explodeOnMessageId: string | undefined;

  /** Waits until the listeners have handed `count` more records to the writer, then makes them durable. */
  const ingested = async (before: number, count: number) => {
    await vi.waitFor(() => expect(writer.stats().accepted).toBe(before + count), { timeout: 10_000, interval: 5 });
    await writer.flush();
  };
  const handled = (listener: string) => bot.stats()[listener]?.handled ?? 0;

  beforeAll(async () => {
    t = testGuild();
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    writer = new IngestionWriter({ repository: createIngestRepository(prisma), logger, flushIntervalMs: 20 });
    fake = await startFakeDiscord({ guilds: [t.guild] });
    bot = createDiscordBot({
      token: "test-token",
      apiUrl: fake.apiUrl,
      logger,
      ingest: {
        write: (event: IngestEvent) => {
          if (event.kind === "message" && event.messageId === explodeOnMessageId) throw new Error("sink exploded");
          return writer.write(event);
        },
      },
    });
    await bot.start();
  });
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
    await writer?.close();
    await prisma?.$disconnect();
  });

  it("logs in through the fake REST and gateway with the configured token", () => {
    expect(fake.identifyTokens).toEqual(["test-token"]);
    expect(bot.client.guilds.cache.get(t.guild.id)?.channels.cache.size).toBe(2);
  });

  it("messageCreate: a human's guild message lands as a row with its fields", async () => {
    const before = writer.stats().accepted;
    const id = snowflakeAt(Date.now() - 5_000, 1);
    fake.dispatch(
      "MESSAGE_CREATE",
      messageCreateData({
        id,
        channelId: t.channelIds[1],
        guildId: t.guild.id,
        author: t.humans[1],
        content: "hello there",
      }),
    );
    await ingested(before, 1);
    const row = await prisma.messageEvent.findUniqueOrThrow({ where: { messageId: id } });
    expect(row).toMatchObject({
      guildId: t.guild.id,
      channelId: t.channelIds[1],
      userId: t.humans[1].id,
      contentLength: 11,
      createdAt: snowflakeTime(id),
    });
  });

  it("messageCreate: bots, webhooks and DMs reach the listener and are skipped", async () => {
    const before = writer.stats().accepted;
    const runs = handled("messageCreate");
    const dmChannel = uniqueSnowflake();
    fake.dispatch("CHANNEL_CREATE", dmChannelCreateData({ id: dmChannel, recipient: t.humans[0] }));
    const skipped = [uniqueSnowflake(), uniqueSnowflake(), uniqueSnowflake()];
    fake.dispatch(
      "MESSAGE_CREATE",
      messageCreateData({ id: skipped[0]!, channelId: t.channelIds[0], guildId: t.guild.id, author: t.bot }),
    );
    fake.dispatch(
      "MESSAGE_CREATE",
      messageCreateData({
        id: skipped[1]!,
        channelId: t.channelIds[0],
        guildId: t.guild.id,
        author: { id: uniqueSnowflake(), username: "hook", bot: false },
        webhookId: uniqueSnowflake(),
      }),
    );
    fake.dispatch(
      "MESSAGE_CREATE",
      messageCreateData({ id: skipped[2]!, channelId: dmChannel, author: t.humans[0], content: "psst" }),
    );
    const human = uniqueSnowflake();
    fake.dispatch(
      "MESSAGE_CREATE",
      messageCreateData({ id: human, channelId: t.channelIds[0], guildId: t.guild.id, author: t.humans[0] }),
    );
    await ingested(before, 1);
    expect(handled("messageCreate") - runs).toBe(4);
    expect(await prisma.messageEvent.count({ where: { messageId: { in: [...skipped, human] } } })).toBe(1);
  });

  it("messageDelete: the author is recorded when the message was cached, null when it was not", async () => {
    const before = writer.stats().accepted;
    const cached = uniqueSnowflake();
    fake.dispatch(
      "MESSAGE_CREATE",
      messageCreateData({ id: cached, channelId: t.channelIds[0], guildId: t.guild.id, author: t.humans[2] }),
    );
    fake.dispatch("MESSAGE_DELETE", messageDeleteData({ id: cached, channelId: t.channelIds[0], guildId: t.guild.id }));
    const unknown = uniqueSnowflake();
    fake.dispatch(
      "MESSAGE_DELETE",
      messageDeleteData({ id: unknown, channelId: t.channelIds[1], guildId: t.guild.id }),
    );
    await ingested(before, 3);
    const rows = await prisma.messageDeleteEvent.findMany({ where: { guildId: t.guild.id }, orderBy: { id: "asc" } });
    expect(rows.map(({ messageId, channelId, userId }) => ({ messageId, channelId, userId }))).toEqual([
      { messageId: cached, channelId: t.channelIds[0], userId: t.humans[2].id },
      { messageId: unknown, channelId: t.channelIds[1], userId: null },
    ]);
  });

  it("typingStart: recorded with guild, channel, user and start time; bots skipped", async () => {
    const before = writer.stats().accepted;
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    fake.dispatch(
      "TYPING_START",
      typingStartData({ channelId: t.channelIds[1], guildId: t.guild.id, user: t.bot, at }),
    );
    fake.dispatch(
      "TYPING_START",
      typingStartData({ channelId: t.channelIds[1], guildId: t.guild.id, user: t.humans[2], at }),
    );
    await ingested(before, 1);
    expect(handled("typingStart")).toBe(2);
    const rows = await prisma.typingEvent.findMany({ where: { guildId: t.guild.id } });
    expect(rows.map(({ channelId, userId, startedAt }) => ({ channelId, userId, startedAt }))).toEqual([
      { channelId: t.channelIds[1], userId: t.humans[2].id, startedAt: at },
    ]);
  });

  it("presenceUpdate: every change is recorded with the guild and the set of client platforms", async () => {
    const before = writer.stats().accepted;
    const user = t.humans[0].id;
    fake.dispatch(
      "PRESENCE_UPDATE",
      presenceUpdateData({
        guildId: t.guild.id,
        userId: user,
        status: "online",
        clientStatus: { mobile: "online", desktop: "idle" },
      }),
    );
    fake.dispatch(
      "PRESENCE_UPDATE",
      presenceUpdateData({ guildId: t.guild.id, userId: user, status: "dnd", clientStatus: { web: "dnd" } }),
    );
    fake.dispatch(
      "PRESENCE_UPDATE",
      presenceUpdateData({ guildId: t.guild.id, userId: user, status: "offline", clientStatus: {} }),
    );
    await ingested(before, 3);
    const rows = await prisma.presenceEvent.findMany({ where: { guildId: t.guild.id }, orderBy: { id: "asc" } });
    expect(rows.map(({ userId, status, platforms }) => ({ userId, status, platforms }))).toEqual([
      { userId: user, status: "online", platforms: ["desktop", "mobile"] },
      { userId: user, status: "dnd", platforms: ["web"] },
      { userId: user, status: "offline", platforms: [] },
    ]);
  });

  it("guildMemberUpdate: one row per role added and per role removed, with the role's name", async () => {
    const before = writer.stats().accepted;
    // alice holds mod; she now gets helper and loses mod.
    fake.dispatch(
      "GUILD_MEMBER_UPDATE",
      guildMemberUpdateData({ guildId: t.guild.id, user: t.humans[0], roles: [t.roles.helper.id] }),
    );
    await ingested(before, 2);
    const rows = await prisma.roleChangeEvent.findMany({ where: { guildId: t.guild.id }, orderBy: { action: "asc" } });
    expect(rows.map(({ userId, roleId, roleName, action }) => ({ userId, roleId, roleName, action }))).toEqual([
      { userId: t.humans[0].id, roleId: t.roles.helper.id, roleName: "helper", action: "added" },
      { userId: t.humans[0].id, roleId: t.roles.mod.id, roleName: "mod", action: "removed" },
    ]);
  });

  it("guildMemberAdd: records the join with the account's age in days", async () => {
    const before = writer.stats().accepted;
    const joinedAt = new Date("2026-11-01T12:00:00.000Z");
    const created = new Date(joinedAt.getTime() - 400.5 * 86_400_000);
    const newcomer = { id: snowflakeAt(created, 7), username: "newcomer" };
    fake.dispatch("GUILD_MEMBER_ADD", guildMemberAddData({ guildId: t.guild.id, user: newcomer, joinedAt }));
    fake.dispatch(
      "GUILD_MEMBER_ADD",
      guildMemberAddData({
        guildId: t.guild.id,
        user: { id: uniqueSnowflake(), username: "a-bot", bot: true },
        joinedAt,
      }),
    );
    await ingested(before, 1);
    const rows = await prisma.memberJoinEvent.findMany({ where: { guildId: t.guild.id } });
    expect(
      rows.map(({ userId, accountCreatedAt, accountAgeDays, joinedAt: at }) => ({
        userId,
        accountCreatedAt,
        accountAgeDays,
        at,
      })),
    ).toEqual([{ userId: newcomer.id, accountCreatedAt: created, accountAgeDays: 400, at: joinedAt }]);
  });

  it("a listener that throws is logged with its name, never crashes the bot, and the next event still lands", async () => {
    const before = writer.stats().accepted;
    explodeOnMessageId = uniqueSnowflake();
    const next = uniqueSnowflake();
    fake.dispatch(
      "MESSAGE_CREATE",
      messageCreateData({
        id: explodeOnMessageId,
        channelId: t.channelIds[0],
        guildId: t.guild.id,
        author: t.humans[1],
      }),
    );
    fake.dispatch(
      "MESSAGE_CREATE",
      messageCreateData({ id: next, channelId: t.channelIds[0], guildId: t.guild.id, author: t.humans[1] }),
    );
    await ingested(before, 1);
    expect(bot.stats().messageCreate?.failed).toBe(1);
    const failure = lines.find((line) => line.msg === "listener messageCreate failed");
    expect(failure).toMatchObject({
      listener: "messageCreate",
      event: "messageCreate",
      err: { message: "sink exploded" },
    });
    expect(await prisma.messageEvent.count({ where: { messageId: { in: [explodeOnMessageId, next] } } })).toBe(1);
    expect(bot.client.isReady()).toBe(true);
  });
});
