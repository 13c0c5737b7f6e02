import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CacheInvalidationService } from "../../../backend/src/invalidation/cache-invalidation-service.ts";
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
import { randomSnowflake, TEST_REDIS_URL, testLogger, uniquePrefix } from "../../support/test-env.ts";

describe("analytics updates over real Redis pub/sub", () => {
  let redis: RedisConnections;
  let subscriber: Subscriber;

  beforeAll(async () => {
    redis = createRedisConnections({ url: TEST_REDIS_URL, connectionName: uniquePrefix("d1-pubsub") }, testLogger());
    await waitForRedisReady(redis.client, 5_000);
    subscriber = createSubscriber(redis.subscriber, testLogger());
  });
  afterAll(async () => {
    await subscriber?.close();
    await redis?.close();
  });

  it("publishes {guildId, types, at} on <prefix>:analytics:update after the guild's invalidation", async () => {
    const channel = analyticsUpdateChannel(uniquePrefix("d1"));
    const received: AnalyticsUpdate[] = [];
    let arrived!: () => void;
    const first = new Promise<void>((resolve) => (arrived = resolve));
    await subscriber.subscribe(
      channel,
      (update) => {
        received.push(update);
        arrived();
      },
      analyticsUpdateSchema,
    );

    const invalidated: string[][] = [];
    const service = new CacheInvalidationService({
      cache: { invalidateByTags: async (tags) => void invalidated.push(tags) },
      publisher: createPublisher(redis.client),
      channel,
      logger: testLogger(),
      coalesceMs: 20,
    });
    const guildId = randomSnowflake();
    service.notify(guildId, ["roleChange"], 3);
    await first;
    await service.close();

    expect(invalidated).toHaveLength(1);
    expect(received).toEqual([{ guildId, types: ["roles"], at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) }]);
    expect(service.stats().published).toBe(1);
  });

  it("a subscriber ignores malformed messages and other channels, and stops after unsubscribing", async () => {
    const channel = analyticsUpdateChannel(uniquePrefix("d1"));
    const other = analyticsUpdateChannel(uniquePrefix("d1-other"));
    const received: AnalyticsUpdate[] = [];
    let arrived!: () => void;
    const good = new Promise<void>((resolve) => (arrived = resolve));
    const unsubscribe = await subscriber.subscribe(
      channel,
      (update) => {
        received.push(update);
        arrived();
      },
      analyticsUpdateSchema,
    );
    const publisher = createPublisher(redis.client);
    const update = { guildId: randomSnowflake(), types: ["heatmap"], at: new Date().toISOString() };
    await redis.client.publish(channel, "not json");
    await publisher.publish(channel, { guildId: "not-a-snowflake", types: ["heatmap"], at: update.at });
    await publisher.publish(other, update);
    await publisher.publish(channel, update);
    await good;
    expect(received).toEqual([update]);

    await unsubscribe();
    // With no subscriber left on the channel, Redis reports no receivers for it.
    expect(await publisher.publish(channel, update)).toBe(0);
  });
});
