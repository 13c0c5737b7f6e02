import type { Redis } from "ioredis";
import { BENCH_VALUE_JSON } from "./bench-value.ts";
import type { Contender } from "./measure.ts";
import { keyNames } from "./shapes.ts";

/** Name of the limit in result maps and tables. */
export const LIMIT_NAME = "limit: ioredis GET + JSON.parse";

/**
 * The limit contender for `keyCount` keys: raw ioredis GET + JSON.parse of the bench value on the bench Redis, with
 * no cache library in between. Every cache figure is reported as a ratio of this one, measured in the same run.
 * Seeds its keys (with a 10 minute TTL) before returning.
 */
export async function limitContender(redis: Redis, prefix: string, keyCount: number): Promise<Contender> {
  const keys = keyNames(`${prefix}:limit`, keyCount);
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.set(key, BENCH_VALUE_JSON, "EX", 600);
  await pipeline.exec();
  return {
    name: LIMIT_NAME,
    call: async (i) => {
      const raw = await redis.get(keys[i % keys.length]!);
      if (raw === null) throw new Error("limit key vanished during the bench");
      return JSON.parse(raw);
    },
  };
}
