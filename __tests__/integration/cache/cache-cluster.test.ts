import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PubSubService } from "../../../backend/src/pubsub/pubsub-service.ts";
import { startRedisCluster, type RedisClusterHandle } from "../../support/redis-cluster.ts";
import { testLogger } from "../../support/test-env.ts";
import { describeCoreSuite } from "./core-suite.ts";

describe("on a 6-node Redis Cluster started by this test", () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => cluster?.stop());

  describeCoreSuite("a Redis Cluster", () =>
    cluster.client({ enableOfflineQueue: true, redisOptions: { commandTimeout: 1_000, maxRetriesPerRequest: 1 } }),
  );

  it("PubSubService works on the cluster: publish on one connection, subscribe and psubscribe on another", async () => {
    const publisher = cluster.client({ enableOfflineQueue: true });
    const subscriber = cluster.client({ enableOfflineQueue: true });
    const pubsub = new PubSubService({ publisher, subscriber, keyPrefix: "cluster-pubsub", logger: testLogger() });
    try {
      const exact: unknown[] = [];
      const matched: string[] = [];
      await pubsub.subscribe("analytics:ghosts:1", (message) => void exact.push(message));
      await pubsub.psubscribe("analytics:*", (_message, channel) => void matched.push(channel));
      await pubsub.publish("analytics:ghosts:1", { n: 1 });
      await pubsub.publish("analytics:roles:2", { n: 2 });
      await vi.waitFor(() => expect(exact).toEqual([{ n: 1 }]));
      await vi.waitFor(() => expect(matched.sort()).toEqual(["analytics:ghosts:1", "analytics:roles:2"]));
    } finally {
      await pubsub.close();
      publisher.disconnect();
      subscriber.disconnect();
    }
  });
});
