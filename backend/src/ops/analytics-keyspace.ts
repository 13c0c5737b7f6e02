import type { AnalyticsType } from "../analytics/analytics-catalog.ts";
import type { KeyBuilder } from "../cache/keys/key-builder.ts";
import { scanEveryMaster } from "../cache/stats/scan-every-master.ts";
import type { RedisClient } from "../redis/redis-connections.ts";

/** One analytic's cache entries right now. */
export interface AnalyticsTypeKeyspace {
  type: AnalyticsType;
  keys: number;
  /** Keys whose TTL and memory were sampled. */
  sampled: number;
  /** Seconds left before Redis drops the sampled entries (fresh TTL + grace); null without a sample. */
  ttlSecondsLeft: { min: number; avg: number; max: number } | null;
  /** Memory of all its keys, estimated from the MEMORY USAGE of the sample. */
  estimatedBytes: number;
}

/** Keys, TTL left and memory of each analytic's entries (`analytics:<type>:*`; SCAN on every master, `sample` per type). */
export async function analyticsKeyspace(
  redis: RedisClient,
  keys: KeyBuilder,
  types: readonly AnalyticsType[],
  sample = 50,
): Promise<AnalyticsTypeKeyspace[]> {
  const result: AnalyticsTypeKeyspace[] = [];
  for (const type of types) {
    let count = 0;
    const ttls: number[] = [];
    let sampledBytes = 0;
    await scanEveryMaster(redis, keys.entryPattern(`analytics:${type}:*`), async (batch, node) => {
      count += batch.length;
      const take = batch.slice(0, Math.max(0, sample - ttls.length));
      if (take.length === 0) return;
      const replies =
        (await node
          .pipeline(
            take.flatMap((key) => [
              ["pttl", key],
              ["memory", "usage", key],
            ]),
          )
          .exec()) ?? [];
      for (let index = 0; index + 1 < replies.length; index += 2) {
        const [ttlError, ttl] = replies[index]!;
        const [memoryError, bytes] = replies[index + 1]!;
        if (ttlError || memoryError || Number(ttl) < 0) continue;
        ttls.push(Number(ttl) / 1000);
        sampledBytes += Number(bytes ?? 0);
      }
    });
    const sampled = ttls.length;
    result.push({
      type,
      keys: count,
      sampled,
      ttlSecondsLeft:
        sampled === 0
          ? null
          : {
              min: round(Math.min(...ttls)),
              avg: round(ttls.reduce((a, b) => a + b, 0) / sampled),
              max: round(Math.max(...ttls)),
            },
      estimatedBytes: sampled === 0 ? 0 : Math.round((sampledBytes / sampled) * count),
    });
  }
  return result;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
