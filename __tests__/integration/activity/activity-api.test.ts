import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { AppConfig } from "../../../backend/src/config/config.ts";
import { startService, type RunningService } from "../../../backend/src/service.ts";
import {
  startFakeDiscord,
  type FakeDiscord,
} from "../../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import {
  messageCreateData,
  presenceUpdateData,
  typingStartData,
} from "../../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { SnowflakeGenerator } from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import { testGuild, type TestGuild } from "../../support/fake-discord-guild.ts";
import { testConfig, testLogger, uniquePrefix } from "../../support/test-env.ts";
import { TestSocket } from "../../support/ws-test-client.ts";

const ADMIN_KEY = `sw_act_${uniquePrefix("admin-key-activity-api")}`;

describe("end to end: /api/activity and activity:live pushes from the real service with a fake Discord", () => {
  const ids = new SnowflakeGenerator();
  let t: TestGuild;
  let fake: FakeDiscord;
  let config: AppConfig;
  let service: RunningService;
  let base: string;
  let guildKey: string;

  const get = async (path: string, key = ADMIN_KEY) => {
    const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
    // biome-ignore lint/suspicious/noExplicitAny: the JSON bodies of every activity route are read loosely here
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };

  beforeAll(async () => {
    t = testGuild();
    fake = await startFakeDiscord({ guilds: [t.guild] });
    config = testConfig({
      DISCORD_ENABLED: "true",
      DISCORD_TOKEN: "activity-api-token",
      DISCORD_API_URL: fake.apiUrl,
      ADMIN_API_KEY: ADMIN_KEY,
      INGEST_FLUSH_INTERVAL_MS: "50",
      ACTIVITY_FLUSH_INTERVAL_MS: "50",
      ACTIVITY_LIVE_PUSH_INTERVAL_MS: "300",
    });
    service = await startService(config, testLogger());
    await fake.waitForClient();
    await service.realtime.subscribed;
    base = `http://127.0.0.1:${service.port}/api/activity`;
    guildKey = (await service.apiKeys.createKey({ name: "activity guild key", guildIds: [t.guild.id] })).secret;
  });
  afterAll(async () => {
    // Month counters are kept for years: remove this test's keys.
    if (service)
      for await (const page of service.activity.structures.scan("*")) await service.activity.structures.del(page);
    await service?.stop();
    await fake?.close();
  });

  it("serves live state, timelines, leaderboards and streaks of events the bot just took in, and pushes live counters", async () => {
    const socket = await TestSocket.open(`ws://127.0.0.1:${service.port}/ws`, { key: ADMIN_KEY });
    try {
      await socket.subscribe(t.guild.id);
      const [alice, bob] = t.humans;
      fake.dispatch(
        "PRESENCE_UPDATE",
        presenceUpdateData({
          guildId: t.guild.id,
          userId: alice.id,
          status: "online",
          clientStatus: { desktop: "online" },
        }),
      );
      fake.dispatch("TYPING_START", typingStartData({ channelId: t.channelIds[0], guildId: t.guild.id, user: bob }));
      for (let i = 0; i < 3; i += 1)
        fake.dispatch(
          "MESSAGE_CREATE",
          messageCreateData({
            id: ids.next(),
            channelId: t.channelIds[0],
            guildId: t.guild.id,
            author: alice,
            content: "hi",
          }),
        );
      fake.dispatch(
        "MESSAGE_CREATE",
        messageCreateData({
          id: ids.next(),
          channelId: t.channelIds[1],
          guildId: t.guild.id,
          author: bob,
          content: "yo",
        }),
      );

      // Each kind is its own ingestion batch: await the (throttled) push that reflects all of them.
      const pushed = await socket.next(
        (message) =>
          message.type === "activity:live" &&
          message.messagesThisMinute === 4 &&
          message.online.total === 1 &&
          message.typingNow === 1,
      );
      expect(pushed).toMatchObject({ guildId: t.guild.id, online: { total: 1, desktop: 1 }, typingNow: 1 });

      const live = await get(`/live?guildId=${t.guild.id}`);
      expect(live.status).toBe(200);
      expect(live.body).toMatchObject({
        guildId: t.guild.id,
        online: { total: 1, desktop: 1, mobile: 0, web: 0 },
        typingNow: 1,
        messagesThisMinute: 4,
      });
      expect(live.body.typing).toEqual([{ channelId: t.channelIds[0], userIds: [bob.id] }]);

      const timeline = await get(`/timeline?guildId=${t.guild.id}&metric=messages&granularity=minute&since=15m`);
      expect(timeline.status).toBe(200);
      expect(timeline.body.total).toBe(4);
      expect(timeline.body.points).toHaveLength(16);

      const board = await get(`/leaderboard?guildId=${t.guild.id}&board=users&period=day&userId=${bob.id}`);
      expect(board.body.top).toEqual([
        { rank: 1, id: alice.id, score: 3 },
        { rank: 2, id: bob.id, score: 1 },
      ]);
      expect(board.body.member).toEqual({ id: bob.id, rank: 2, score: 1 });
      const channels = await get(`/leaderboard?guildId=${t.guild.id}&board=channels&limit=1`);
      expect(channels.body.top).toEqual([{ rank: 1, id: t.channelIds[0], score: 3 }]);

      const streaks = await get(`/streaks?guildId=${t.guild.id}&userId=${alice.id}`);
      expect(streaks.body).toMatchObject({ current: 1, longest: 1, activeDays: 1 });

      const system = await get("/system");
      expect(system.status).toBe(200);
      expect(system.body.ingestFailures).toEqual({ failedAttempts: 0, rejected: 0, dropped: 0, abandonedOnClose: 0 });
    } finally {
      await socket.close();
    }
  });

  it("pushes a busy guild's live counters at most once per interval", async () => {
    const socket = await TestSocket.open(`ws://127.0.0.1:${service.port}/ws`, { key: ADMIN_KEY });
    try {
      await socket.subscribe(t.guild.id);
      const started = Date.now();
      for (let i = 0; i < 40; i += 1) {
        fake.dispatch(
          "MESSAGE_CREATE",
          messageCreateData({
            id: ids.next(),
            channelId: t.channelIds[1],
            guildId: t.guild.id,
            author: t.humans[2],
            content: ".",
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await vi.waitFor(() =>
        expect(socket.received.filter((m) => m.type === "activity:live").length).toBeGreaterThan(0),
      );
      const elapsed = Date.now() - started;
      const pushes = socket.received.filter((m) => m.type === "activity:live").length;
      expect(pushes).toBeLessThanOrEqual(Math.ceil(elapsed / 300) + 2);
    } finally {
      await socket.close();
    }
  });

  it("answers bad input with the analytics routes' 400 shape, another guild's key with 403, and /system to admins only", async () => {
    const bad = await get(`/timeline?guildId=12&metric=nope&granularity=year`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("E_VALIDATION");
    expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      "granularity",
      "guildId",
      "metric",
    ]);
    const tooMany = await get(`/timeline?guildId=${t.guild.id}&granularity=minute&since=3d`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details).toEqual([{ field: "since", message: expect.stringContaining("at most 1500") }]);
    const future = await get(`/leaderboard?guildId=${t.guild.id}&at=2999-01-01`);
    expect(future.status).toBe(400);
    expect((await get(`/streaks?guildId=${t.guild.id}`)).body.error.details[0].field).toBe("userId");
    expect((await get(`/live?guildId=${t.guild.id}`, guildKey)).status).toBe(200);
    const otherGuild = await get(`/live?guildId=${"1".repeat(18)}`, guildKey);
    expect(otherGuild.status).toBe(403);
    expect((await get("/system", guildKey)).status).toBe(403);
    expect((await fetch(`${base}/live?guildId=${t.guild.id}`)).status).toBe(401);
  });
});
