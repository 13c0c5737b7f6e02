import { afterAll, beforeAll, describe } from "vitest";
import { startRedisCluster, type RedisClusterHandle } from "../../helpers/redis-cluster.ts";
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
});
