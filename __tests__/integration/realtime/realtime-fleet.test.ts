import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANALYTICS_TYPES } from "../../../backend/src/analytics/analytics-catalog.ts";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { TEST_DATABASE_URL, randomSnowflake, testLogger, uniquePrefix } from "../../support/test-env.ts";
import { startRealtimeInstance, UpdatePublisher } from "./realtime-harness.ts";
import { TestSocket } from "../../support/ws-test-client.ts";

const ADMIN_KEY = `sw_rt_${uniquePrefix("admin-key-realtime-fleet")}`;

describe("/ws across instances and through a Redis outage", () => {
  let prisma: PrismaClient;
  let keys: ApiKeyService;

  beforeAll(() => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    keys = new ApiKeyService({ prisma, logger: testLogger(), adminApiKey: ADMIN_KEY });
  });
  afterAll(async () => {
    await prisma?.$disconnect();
  });

  it("two instances on one Redis both push an update published once; each subscribes to the channel once", async () => {
    const keyPrefix = uniquePrefix("rt-fleet");
    const guildId = randomSnowflake();
    const publisher = new UpdatePublisher(keyPrefix);
    const [one, two] = await Promise.all([
      startRealtimeInstance({ keyPrefix, auth: keys }),
      startRealtimeInstance({ keyPrefix, auth: keys }),
    ]);
    const sockets = await Promise.all(
      [one.url, one.url, two.url].map((url) => TestSocket.open(url, { key: ADMIN_KEY })),
    );
    try {
      for (const socket of sockets) await socket.subscribe(guildId);
      // One subscription per instance, however many sockets it serves.
      expect(await publisher.channelSubscribers()).toBe(2);
      const sent = await publisher.publish(guildId, ["lurkers"]);
      for (const socket of sockets) expect(await socket.nextUpdate()).toEqual({ type: "analytics:update", ...sent });
      expect(one.realtime.stats()).toMatchObject({ updatesReceived: 1, pushed: 2 });
      expect(two.realtime.stats()).toMatchObject({ updatesReceived: 1, pushed: 1 });
    } finally {
      await Promise.all(sockets.map((socket) => socket.close()));
      await Promise.all([one.close(), two.close()]);
      await publisher.close();
    }
  });

  it("with Redis down the endpoint stays up; when Redis is back sockets get a resync push, then pushes resume", async () => {
    const keyPrefix = uniquePrefix("rt-outage");
    const guildId = randomSnowflake();
    const redis = await ThrowawayRedis.start();
    const instance = await startRealtimeInstance({ keyPrefix, auth: keys, redisUrl: redis.url });
    const publisher = new UpdatePublisher(keyPrefix, redis.url);
    // Keys stored in PostgreSQL, never looked up before the outage (the bootstrap admin key needs no query).
    const [beforeKey, duringKey] = await Promise.all([
      keys.createKey({ name: "realtime outage before", guildIds: [guildId] }),
      keys.createKey({ name: "realtime outage during", guildIds: [guildId] }),
    ]);
    const sockets: TestSocket[] = [];
    try {
      const before = await TestSocket.open(instance.url, { key: beforeKey.secret });
      sockets.push(before);
      await before.subscribe(guildId);

      const lost = once(instance.redis.subscriber, "close");
      await redis.kill();
      await lost;
      // PostgreSQL checks keys, so sockets still connect, authenticate and subscribe while Redis is down.
      const during = await TestSocket.open(instance.url);
      sockets.push(during);
      during.send({ type: "auth", key: duringKey.secret });
      expect(await during.next()).toEqual({ type: "authenticated", scope: "guild", guildIds: [guildId] });
      expect(await during.subscribe(guildId)).toEqual({ type: "subscribed", guildId });
      expect(before.socket.readyState).toBe(before.socket.OPEN);

      await redis.resume();
      // Updates published during the outage were lost: every subscribed socket is told to refetch everything, once
      // this instance is subscribed again.
      for (const socket of sockets) {
        const resync = await socket.nextUpdate();
        expect(resync).toMatchObject({ type: "analytics:update", guildId, types: [...ANALYTICS_TYPES], resync: true });
      }
      const sent = await publisher.publish(guildId, ["roles"]);
      for (const socket of sockets) expect(await socket.nextUpdate()).toEqual({ type: "analytics:update", ...sent });
      expect(instance.realtime.stats().resyncPushes).toBe(2);
    } finally {
      await Promise.all(sockets.map((socket) => socket.close()));
      await instance.close();
      await publisher.close();
      await redis.kill();
    }
  });
});
