import { Registry } from "prom-client";
import { createCache, newCacheInstanceId } from "../../backend/src/cache/index.ts";
import { CacheStatsRecorder } from "../../backend/src/cache/stats/cache-stats-recorder.ts";
import { registerCacheMetrics } from "../../backend/src/cache/stats/prometheus-metrics.ts";
import { createLogger } from "../../backend/src/logging/logger.ts";
import { createRedisConnections } from "../../backend/src/redis/redis-connections.ts";
import { assertLoopback } from "../lib/bench-redis.ts";
import type { OurCacheHandle, OurCacheOptions } from "./bench-context.ts";

/**
 * Our cache as the service builds it: the service's Redis connection factory (RESP2, per-command timeout, no
 * offline queue, its own subscriber), a stats recorder with the Prometheus metrics registered, and `createCache`,
 * L1 on or off. Resolves once the cache's tag map is trusted
 * (its invalidation bus answered), which is the steady state a running service is in.
 */
export async function makeOurCache(options: OurCacheOptions): Promise<OurCacheHandle> {
  assertLoopback(options.url);
  const connections = createRedisConnections(
    { url: options.url, commandTimeoutMs: options.commandTimeoutMs ?? 250, connectionName: "bench" },
    createLogger({ level: "silent" }),
  );
  // With the Prometheus metrics registered as in the service (cache_operation_latency_seconds is read at scrape time,
  // so registering it must cost the hot path nothing).
  const stats = new CacheStatsRecorder({
    redis: connections.client,
    prefix: options.prefix,
    instanceId: newCacheInstanceId(),
  });
  registerCacheMetrics(new Registry(), stats);
  const cache = createCache({
    stats,
    redis: connections.client,
    subscriber: connections.subscriber,
    prefix: options.prefix,
    l1: options.l1 ? {} : false,
    breaker: {
      ...(options.breakerFailureThreshold === undefined ? {} : { failureThreshold: options.breakerFailureThreshold }),
      ...(options.breakerRecoveryTimeoutMs === undefined
        ? {}
        : { recoveryTimeoutMs: options.breakerRecoveryTimeoutMs }),
    },
  });
  try {
    await cache.ready();
  } catch (error) {
    await cache.close();
    await connections.close();
    throw error;
  }
  return {
    cache,
    close: async () => {
      await cache.close();
      await connections.close();
    },
  };
}
