import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../../backend/src/config/config.ts";
import { ANALYTICS_TYPES, guildAnalyticsTag } from "../../../backend/src/analytics/analytics-catalog.ts";
import { startDiscordSide, type DiscordSide } from "../../../backend/src/composition/discord-side.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
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
import { buildSimulatedGuild } from "../../../backend/src/simulation/simulated-guild.ts";
import {
  TEST_COMMAND_TIMEOUT_MS,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  testLogger,
  uniquePrefix,
} from "../../support/test-env.ts";
import { capturingLogger } from "../../support/capturing-logger.ts";

describe("startDiscordSide without a token: the same bot against the simulated guild, real PostgreSQL and Redis", () => {
  const prefix = uniquePrefix("d1-sim");
  const simulated = buildSimulatedGuild(1);
  const guildId = simulated.guild.id;
  const { logger, lines } = capturingLogger();
  const invalidated: string[][] = [];
  const updates: AnalyticsUpdate[] = [];
  let prisma: PrismaClient;
  let redis: RedisConnections;
  let subscriber: Subscriber;
  let side: DiscordSide;
  let startedAt: Date;

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 4 });
    redis = createRedisConnections(
      { url: TEST_REDIS_URL, connectionName: prefix, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS },
      testLogger(),
    );
    await waitForRedisReady(redis.client, 5_000);
    subscriber = createSubscriber(redis.subscriber, testLogger());
    await subscriber.subscribe(analyticsUpdateChannel(prefix), (update) => updates.push(update), analyticsUpdateSchema);
    startedAt = new Date();
    side = await startDiscordSide({
      config: loadConfig({
        SIMULATION_EVENTS_PER_SECOND: "500",
        INGEST_FLUSH_INTERVAL_MS: "50",
        INVALIDATION_COALESCE_MS: "200",
      }).discord,
      keyPrefix: prefix,
      logger,
      prisma,
      cache: { invalidateByTags: async (tags) => void invalidated.push(tags) },
      publisher: createPublisher(redis.client),
    });
  });
  afterAll(async () => {
    await side?.stop();
    await subscriber?.close();
    await redis?.close();
    await prisma?.$disconnect();
  });

  const since = () => ({ guildId });
  const counts = async () => ({
    messages: await prisma.messageEvent.count({ where: { ...since(), createdAt: { gte: startedAt } } }),
    typing: await prisma.typingEvent.count({
      where: { ...since(), startedAt: { gte: new Date(Math.floor(startedAt.getTime() / 1000) * 1000) } },
    }),
    presence: await prisma.presenceEvent.count({ where: { ...since(), createdAt: { gte: startedAt } } }),
    roles: await prisma.roleChangeEvent.count({ where: { ...since(), createdAt: { gte: startedAt } } }),
    joins: await prisma.memberJoinEvent.count({ where: { ...since(), joinedAt: { gte: startedAt } } }),
    deletes: await prisma.messageDeleteEvent.count({ where: { ...since(), deletedAt: { gte: startedAt } } }),
  });

  it("says loudly that it is simulated", () => {
    expect(side.simulated).toBe(true);
    expect(side.simulatedGuildIds).toEqual([guildId]);
    const banner = lines.find((line) => String(line.msg).startsWith("SIMULATED DISCORD"));
    expect(banner).toMatchObject({ level: 40, guildIds: [guildId], eventsPerSecond: 500 });
  });

  it("fills every table for the simulated guild", async () => {
    await vi.waitFor(
      async () => {
        const now = await counts();
        for (const count of Object.values(now)) expect(count).toBeGreaterThan(0);
      },
      { timeout: 25_000, interval: 200 },
    );
  });

  it("personas behave: ghosts type far more than they post, lurkers only show presence, platforms vary", async () => {
    await vi.waitFor(async () => expect((await counts()).typing).toBeGreaterThan(300), {
      timeout: 25_000,
      interval: 200,
    });
    const ghosts = simulated.users.filter((user) => user.persona === "ghost").map((user) => user.user.id);
    const lurkers = simulated.users.filter((user) => user.persona === "lurker").map((user) => user.user.id);
    const ghostTyping = await prisma.typingEvent.count({ where: { guildId, userId: { in: ghosts } } });
    const ghostMessages = await prisma.messageEvent.count({ where: { guildId, userId: { in: ghosts } } });
    expect(ghostTyping).toBeGreaterThan(5 * ghostMessages);
    expect(await prisma.messageEvent.count({ where: { guildId, userId: { in: lurkers } } })).toBe(0);
    expect(await prisma.typingEvent.count({ where: { guildId, userId: { in: lurkers } } })).toBe(0);
    expect(await prisma.presenceEvent.count({ where: { guildId, userId: { in: lurkers } } })).toBeGreaterThan(0);
    const platforms = await prisma.$queryRaw<{ platform: string }[]>`
      SELECT DISTINCT unnest(platforms) AS platform FROM presence_events WHERE guild_id = ${guildId}`;
    expect(platforms.map((row) => row.platform).sort()).toEqual(["desktop", "mobile", "web"]);
  });

  it("invalidates only the simulated guild's analytics, coalesced, and publishes updates", async () => {
    await vi.waitFor(() => expect(updates.length).toBeGreaterThan(1), { timeout: 10_000, interval: 50 });
    const allowed = new Set(ANALYTICS_TYPES.map((type) => guildAnalyticsTag(type, guildId)));
    for (const tags of invalidated) for (const tag of tags) expect(allowed.has(tag)).toBe(true);
    const stats = side.stats();
    expect(stats.invalidation.coalescedEvents).toBeGreaterThan(stats.invalidation.invalidations);
    expect(updates.every((update) => update.guildId === guildId)).toBe(true);
    expect(stats.listeners.messageCreate?.failed).toBe(0);
  });

  it("stop() drains: every row the listeners handed over is durable", async () => {
    await side.stop();
    const stats = side.stats();
    expect(stats.ingest).toMatchObject({ buffered: 0, dropped: 0, rejected: 0, abandonedOnClose: 0 });
    expect(stats.ingest.written).toBe(stats.ingest.accepted);
    expect(stats.invalidation.pendingGuilds).toBe(0);
  });
});
