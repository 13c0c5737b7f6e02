import { ActivityReader } from "../../backend/src/activity/activity-reader.ts";
import { ActivityRecorder } from "../../backend/src/activity/activity-recorder.ts";
import { ACTIVITY_NAMESPACE } from "../../backend/src/activity/activity-keys.ts";
import { LiveStateReader } from "../../backend/src/activity/live-state.ts";
import { createCache, type CacheStructures, type SpyCache } from "../../backend/src/cache/index.ts";
import {
  createRedisConnections,
  waitForRedisReady,
  type RedisConnections,
} from "../../backend/src/redis/redis-connections.ts";
import { TEST_COMMAND_TIMEOUT_MS, TEST_REDIS_URL, testLogger, uniquePrefix } from "./test-env.ts";

/** A cache on the test Redis with the activity recorder and readers on it (own prefix, closed by `close`). */
export interface ActivityKit {
  redis: RedisConnections;
  cache: SpyCache;
  structures: CacheStructures;
  recorder: ActivityRecorder;
  reader: ActivityReader;
  live: LiveStateReader;
  close(): Promise<void>;
}

/** Builds an activity kit; `typingTtlMs` shortens "typing now" for expiry tests. */
export async function startActivityKit(
  options: { typingTtlMs?: number; redisUrl?: string; commandTimeoutMs?: number } = {},
): Promise<ActivityKit> {
  const logger = testLogger();
  const redis = createRedisConnections(
    {
      url: options.redisUrl ?? TEST_REDIS_URL,
      commandTimeoutMs: options.commandTimeoutMs ?? TEST_COMMAND_TIMEOUT_MS,
      connectTimeoutMs: 2_000,
    },
    logger,
  );
  await waitForRedisReady(redis.client, 5_000);
  const cache = createCache({ redis: redis.client, subscriber: redis.subscriber, prefix: uniquePrefix("act"), logger });
  const structures = cache.structures(ACTIVITY_NAMESPACE);
  const recorder = new ActivityRecorder({
    structures,
    logger,
    flushIntervalMs: 20,
    ...(options.typingTtlMs ? { typingTtlMs: options.typingTtlMs } : {}),
  });
  return {
    redis,
    cache,
    structures,
    recorder,
    reader: new ActivityReader(structures),
    live: new LiveStateReader(structures),
    async close() {
      await recorder.close();
      // Future-dated test buckets would stay for years: remove every key this kit wrote.
      for await (const page of structures.scan("*")) await structures.del(page);
      await cache.close();
      await redis.close();
    },
  };
}
