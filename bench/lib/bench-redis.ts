import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

/** Redis the benches use (env BENCH_REDIS_URL, default logical db 13 on the local server). */
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/13";

/** Throws unless `url` points at this machine: benches never send traffic anywhere else. */
export function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!["127.0.0.1", "localhost", "[::1]", "::1"].includes(host)) {
    throw new Error(`bench Redis must be on loopback, got host "${host}"`);
  }
}

/** A plain ioredis connection like the service's command connection (RESP2, 250 ms command timeout). */
export function openBenchRedis(url: string = BENCH_REDIS_URL, commandTimeoutMs = 250): Redis {
  assertLoopback(url);
  return new Redis(url, { protocol: 2, commandTimeout: commandTimeoutMs, maxRetriesPerRequest: 1 });
}

/** A key prefix no other bench run uses, so runs never read each other's keys. */
export function benchPrefix(label: string): string {
  return `bench-${label}-${randomBytes(4).toString("hex")}`;
}

/** Deletes every key under `prefix` with SCAN + UNLINK (never KEYS, never FLUSHDB). Returns how many. */
export async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
}
