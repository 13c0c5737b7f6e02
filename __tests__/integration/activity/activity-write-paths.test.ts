import type { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTIVITY_NAMESPACE } from "../../../backend/src/activity/activity-keys.ts";
import type { ActivityMetric } from "../../../backend/src/activity/activity-metrics.ts";
import { ActivityReader } from "../../../backend/src/activity/activity-reader.ts";
import { ActivityRecorder } from "../../../backend/src/activity/activity-recorder.ts";
import { RECORD_GUILD_ACTIVITY } from "../../../backend/src/activity/activity-scripts.ts";
import { LiveStateReader } from "../../../backend/src/activity/live-state.ts";
import { createCache, type CacheStructures, type SpyCache } from "../../../backend/src/cache/index.ts";
import {
  createRedisConnections,
  waitForRedisReady,
  type RedisConnections,
} from "../../../backend/src/redis/redis-connections.ts";
import { startRedisCluster, type RedisClusterHandle } from "../../support/redis-cluster.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { randomSnowflake, testLogger, uniquePrefix } from "../../support/test-env.ts";

/** A deployment the recorder writes to: a fresh redis-server (no script loaded yet) or a 3-master cluster. */
interface Deployment {
  client: Redis | Cluster;
  /** Restarts the server (its script cache is lost), or undefined where not offered. */
  restart?: () => Promise<void>;
  close(): Promise<void>;
}

const deployments: Record<string, () => Promise<Deployment>> = {
  "fresh redis-server (the script is not loaded: NOSCRIPT, then EVAL)": async () => {
    const server = await ThrowawayRedis.start();
    const logger = testLogger();
    const redis: RedisConnections = createRedisConnections(
      { url: server.url, commandTimeoutMs: 2_000, connectTimeoutMs: 2_000 },
      logger,
    );
    await waitForRedisReady(redis.client, 5_000);
    return {
      client: redis.client,
      async restart() {
        await server.kill();
        await server.resume();
        await waitForRedisReady(redis.client, 5_000);
      },
      async close() {
        await redis.close();
        await server.kill();
      },
    };
  },
  "Redis Cluster (each guild's keys in one slot, system keys in another)": async () => {
    const cluster: RedisClusterHandle = await startRedisCluster();
    // A whole flush is one gateway call with one deadline on a cluster: on this shared 2-core machine, a generous one.
    return { client: cluster.client({ redisOptions: { commandTimeout: 5_000 } }), close: () => cluster.stop() };
  },
};

describe.each(Object.keys(deployments))("activity recording on a %s", (name) => {
  let deployment: Deployment;
  let cache: SpyCache;
  let structures: CacheStructures;
  let recorder: ActivityRecorder;
  let reader: ActivityReader;
  const guilds = [randomSnowflake(), randomSnowflake(), randomSnowflake()];
  const at = new Date("2028-07-03T10:15:00Z");
  const USERS = 2_500;

  /** One message of each user in each guild, and one typing event of each of the first 100 users: a flush of several script calls per guild. */
  const metrics = (): ActivityMetric[] =>
    guilds.flatMap((guildId) => [
      ...Array.from(
        { length: USERS },
        (_, u): ActivityMetric => ({
          type: "messages",
          guildId,
          userId: String(1_000 + u),
          channelId: String(u % 7),
          timestamp: at,
        }),
      ),
      ...Array.from(
        { length: 100 },
        (_, u): ActivityMetric => ({
          type: "typing",
          guildId,
          userId: String(1_000 + u),
          channelId: "1",
          timestamp: at,
        }),
      ),
    ]);

  beforeAll(async () => {
    deployment = await deployments[name]!();
    cache = createCache({ redis: deployment.client, prefix: uniquePrefix("actw"), logger: testLogger() });
    structures = cache.structures(ACTIVITY_NAMESPACE);
    recorder = new ActivityRecorder({ structures, logger: testLogger(), flushIntervalMs: 60_000 });
    reader = new ActivityReader(structures);
  }, 60_000);
  afterAll(async () => {
    await recorder?.close();
    await cache?.close();
    await deployment?.close();
  });

  const expectCounts = async (times: number) => {
    for (const guildId of guilds) {
      const day = await reader.timeline(guildId, "messages", "day", at.getTime(), at.getTime());
      expect(day.total).toBe(USERS * times);
      const minute = await reader.timeline(guildId, "messages", "minute", at.getTime() - 60_000, at.getTime());
      expect(minute.points.map((point) => point.count)).toEqual([0, USERS * times]);
      const board = await reader.leaderboard(guildId, "users", "month", at.getTime(), 3, "3499");
      expect(board.members).toBe(USERS);
      // Every member has the same score: the top is the first ids in byte order, and everyone shares rank 1.
      expect(board.top).toEqual(["1000", "1001", "1002"].map((id) => ({ rank: 1, id, score: times })));
      expect(board.member).toEqual({ id: "3499", rank: 1, score: times });
      expect(
        (await reader.leaderboard(guildId, "channels", "week", at.getTime(), 10)).top.reduce(
          (sum, entry) => sum + entry.score,
          0,
        ),
      ).toBe(USERS * times);
      expect((await reader.leaderboard(guildId, "typers", "day", at.getTime(), 200)).members).toBe(100);
      expect(await reader.streaks(guildId, "3499", at.getTime())).toMatchObject({ current: 1, activeDays: 1 });
    }
  };

  it("writes a flush that needs several script calls per guild exactly once", async () => {
    if (deployment.restart) expect(await deployment.client.script("EXISTS", RECORD_GUILD_ACTIVITY.sha)).toEqual([0]);
    recorder.recordMetrics(metrics());
    await recorder.flush();
    expect(recorder.stats()).toMatchObject({ flushed: guilds.length * (USERS + 100), dropped: 0, failedFlushes: 0 });
    await expectCounts(1);
    expect((await new LiveStateReader(structures).counters(guilds[0]!, at.getTime())).messagesThisMinute).toBe(USERS);
    // Applied twice, it would have doubled: a second flush of the same metrics makes exactly 2.
    recorder.recordMetrics(metrics());
    await recorder.flush();
    await expectCounts(2);
  });

  // Only a server this test owns alone can be restarted.
  if (!name.startsWith("fresh")) return;
  it("keeps writing once the server forgot the script (restart), without applying anything twice", async () => {
    await deployment.restart!();
    expect(await deployment.client.script("EXISTS", RECORD_GUILD_ACTIVITY.sha)).toEqual([0]);
    // The restart lost every key: a fresh recorder (no memo of sent expiries) writes the same flush again.
    recorder = new ActivityRecorder({ structures, logger: testLogger(), flushIntervalMs: 60_000 });
    await waitForBreakerToClose(structures);
    recorder.recordMetrics(metrics());
    await recorder.flush();
    expect(recorder.stats()).toMatchObject({ dropped: 0, failedFlushes: 0 });
    await expectCounts(1);
    expect(await deployment.client.script("EXISTS", RECORD_GUILD_ACTIVITY.sha)).toEqual([1]);
  }, 30_000);
});

/** The restart may have opened the breaker; a read that succeeds shows it closed again. */
async function waitForBreakerToClose(structures: CacheStructures): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await structures.mget(["probe"]);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      // The breaker's recovery timer has no event to await: poll it briefly.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
