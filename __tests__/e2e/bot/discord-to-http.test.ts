import request from "supertest";
import { loadConfig } from "../../../backend/src/config/config.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAnalyticsService } from "../../../backend/src/analytics/analytics-service.ts";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { startDiscordSide, type DiscordSide } from "../../../backend/src/composition/discord-side.ts";
import { createCache, type SpyCache } from "../../../backend/src/cache/index.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { analyticsRouter } from "../../../backend/src/http/analytics-routes.ts";
import { createApp } from "../../../backend/src/http/app.ts";
import {
  analyticsUpdateChannel,
  analyticsUpdateSchema,
  type AnalyticsUpdate,
} from "../../../backend/src/pubsub/analytics-update.ts";
import { createPublisher, createSubscriber, type Subscriber } from "../../../backend/src/pubsub/pubsub.ts";
import {
  createRedisConnections,
  waitForRedisReady,
  type RedisConnections,
} from "../../../backend/src/redis/redis-connections.ts";
import {
  startFakeDiscord,
  type FakeDiscord,
} from "../../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import {
  guildMemberUpdateData,
  messageCreateData,
  presenceUpdateData,
  typingStartData,
} from "../../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { SnowflakeGenerator } from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import type { AnalyticsType } from "../../../backend/src/analytics/analytics-catalog.ts";
import { testGuild, type TestGuild } from "../../support/fake-discord-guild.ts";
import {
  TEST_COMMAND_TIMEOUT_MS,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  testLogger,
  uniquePrefix,
} from "../../support/test-env.ts";

const ADMIN_KEY = `sw_e2e_${uniquePrefix("admin-key-for-d1-e2e")}`;

describe("end to end: fake Discord -> real discord.js bot -> PostgreSQL -> invalidation -> HTTP analytics", () => {
  const prefix = uniquePrefix("d1-e2e");
  const ids = new SnowflakeGenerator();
  let t: TestGuild;
  let fake: FakeDiscord;
  let prisma: PrismaClient;
  let redis: RedisConnections;
  let cache: SpyCache;
  let subscriber: Subscriber;
  let side: DiscordSide;
  let app: ReturnType<typeof createApp>;
  const waiters: { types: AnalyticsType[]; resolve: () => void }[] = [];

  /** Resolves on the next analytics update of the test guild that names every one of `types`. */
  const nextUpdate = (types: AnalyticsType[]) => new Promise<void>((resolve) => waiters.push({ types, resolve }));
  const get = (type: AnalyticsType) =>
    request(app)
      .get(`/api/analytics/${type}`)
      .query({ guildId: t.guild.id, since: "1h" })
      .set("Authorization", `Bearer ${ADMIN_KEY}`)
      .expect(200);

  beforeAll(async () => {
    t = testGuild();
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
    redis = createRedisConnections(
      { url: TEST_REDIS_URL, connectionName: prefix, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS },
      testLogger(),
    );
    await waitForRedisReady(redis.client, 5_000);
    cache = createCache({
      redis: redis.client,
      subscriber: redis.subscriber,
      prefix: `${prefix}:cache`,
      logger: testLogger(),
    });
    await cache.ready(5_000);
    subscriber = createSubscriber(redis.subscriber, testLogger());
    await subscriber.subscribe(
      analyticsUpdateChannel(prefix),
      (update: AnalyticsUpdate) => {
        if (update.guildId !== t.guild.id) return;
        for (const waiter of waiters.splice(0)) {
          if (waiter.types.every((type) => update.types.includes(type))) waiter.resolve();
          else waiters.push(waiter);
        }
      },
      analyticsUpdateSchema,
    );
    const auth = new ApiKeyService({ prisma, logger: testLogger(), adminApiKey: ADMIN_KEY });
    app = createApp({
      logger: testLogger(),
      readinessChecks: [],
      routers: [
        {
          path: "/api",
          router: analyticsRouter({ cache, analytics: createAnalyticsService({ prisma, rollups: false }), auth }),
        },
      ],
    });
    fake = await startFakeDiscord({ guilds: [t.guild] });
    side = await startDiscordSide({
      // Hard mode: this test checks exactly which analytics each event invalidates, so every invalidated read
      // must recompute (soft mode, the default, is covered end to end in __tests__/e2e/process.test.ts).
      config: loadConfig({
        DISCORD_TOKEN: "e2e-token",
        DISCORD_API_URL: fake.apiUrl,
        INGEST_FLUSH_INTERVAL_MS: "20",
        INVALIDATION_COALESCE_MS: "100",
        INVALIDATION_MODE: "hard",
      }).discord,
      keyPrefix: prefix,
      logger: testLogger(),
      prisma,
      cache,
      publisher: createPublisher(redis.client),
    });
  });
  afterAll(async () => {
    await side?.stop();
    await fake?.close();
    await subscriber?.close();
    await cache?.close();
    await redis?.close();
    await prisma?.$disconnect();
  });

  it("connects to the fake Discord with the given token, not the simulation", () => {
    expect(side.simulated).toBe(false);
    expect(fake.identifyTokens).toEqual(["e2e-token"]);
  });

  it("typing and messages: ghosts, heatmap and shifts are cached, then fresh after the events", async () => {
    const [alice, bob] = t.humans;
    for (const type of ["ghosts", "heatmap"] as const) {
      expect((await get(type)).headers["x-cache"]).toBe("MISS");
      expect((await get(type)).headers["x-cache"]).toBe("HIT");
    }
    expect((await get("ghosts")).body.items).toEqual([]);

    const updated = nextUpdate(["ghosts", "heatmap", "shifts", "lurkers"]);
    for (let i = 0; i < 3; i += 1)
      fake.dispatch("TYPING_START", typingStartData({ channelId: t.channelIds[0], guildId: t.guild.id, user: alice }));
    fake.dispatch(
      "MESSAGE_CREATE",
      messageCreateData({
        id: ids.next(),
        channelId: t.channelIds[1],
        guildId: t.guild.id,
        author: bob,
        content: "hello",
      }),
    );
    await updated;

    const ghosts = await get("ghosts");
    expect(ghosts.headers["x-cache"]).toBe("MISS");
    expect(ghosts.body.items).toEqual([expect.objectContaining({ userId: alice.id, typingCount: 3, messageCount: 0 })]);
    const heatmap = await get("heatmap");
    expect(heatmap.headers["x-cache"]).toBe("MISS");
    const channels = Object.fromEntries(
      heatmap.body.items.map((item: { channelId: string; messageCount: number; typingCount: number }) => [
        item.channelId,
        item,
      ]),
    );
    expect(channels[t.channelIds[0]]).toMatchObject({ typingCount: 3, messageCount: 0 });
    expect(channels[t.channelIds[1]]).toMatchObject({ typingCount: 0, messageCount: 1 });
  });

  it("role changes invalidate roles only; presence invalidates lurkers and clients", async () => {
    const carol = t.humans[2];
    for (const type of ["roles", "clients", "ghosts"] as const) await get(type);
    expect((await get("roles")).headers["x-cache"]).toBe("HIT");

    const rolesUpdated = nextUpdate(["roles"]);
    fake.dispatch(
      "GUILD_MEMBER_UPDATE",
      guildMemberUpdateData({ guildId: t.guild.id, user: carol, roles: [t.roles.helper.id] }),
    );
    await rolesUpdated;
    const roles = await get("roles");
    expect(roles.headers["x-cache"]).toBe("MISS");
    expect(roles.body.items).toEqual([expect.objectContaining({ userId: carol.id, roleChangeCount: 1 })]);
    expect((await get("ghosts")).headers["x-cache"]).toBe("HIT");

    const presenceUpdated = nextUpdate(["lurkers", "clients"]);
    fake.dispatch(
      "PRESENCE_UPDATE",
      presenceUpdateData({
        guildId: t.guild.id,
        userId: carol.id,
        status: "online",
        clientStatus: { mobile: "online" },
      }),
    );
    await presenceUpdated;
    const lurkers = await get("lurkers");
    expect(lurkers.headers["x-cache"]).toBe("MISS");
    expect(lurkers.body.items).toEqual([expect.objectContaining({ userId: carol.id, presenceCount: 1 })]);
    expect((await get("clients")).headers["x-cache"]).toBe("MISS");
    expect((await get("roles")).headers["x-cache"]).toBe("HIT");
  });
});
