/**
 * A second process for the cross-process tests: a cache on the same Redis and prefix, driven over the IPC channel.
 * Requests: {id, op: "invalidate", tags} | {id, op: "get", key} | {id, op: "set", key, value, tags} | {id, op: "close"}.
 * Replies: {id, result} or {id, error}. Sends {ready: true} once its bus is trusted.
 */
import { Redis } from "ioredis";
import { createCache } from "../../../backend/src/cache/index.ts";

type Request =
  | { id: number; op: "invalidate"; tags: string[] }
  | { id: number; op: "get"; key: string }
  | { id: number; op: "set"; key: string; value: unknown; tags: string[] }
  | { id: number; op: "close" };

const redis = new Redis(process.env.PEER_REDIS_URL!, {
  commandTimeout: 1_000,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
});
redis.on("error", () => undefined);
await new Promise<void>((resolve) => redis.once("ready", () => resolve()));
const cache = createCache({ redis, prefix: process.env.PEER_PREFIX!, l1: process.env.PEER_L1 === "1" ? {} : false });
await cache.ready();

process.on("message", (raw) => {
  const request = raw as Request;
  void (async () => {
    try {
      switch (request.op) {
        case "invalidate":
          return reply(request.id, await cache.invalidateByTagsWithReport(request.tags));
        case "get":
          return reply(request.id, (await cache.get(request.key)) ?? null);
        case "set":
          return reply(request.id, await cache.set(request.key, request.value, { tags: request.tags }));
        case "close":
          await cache.close();
          redis.disconnect();
          reply(request.id, null);
          return process.disconnect();
      }
    } catch (error) {
      process.send!({ id: request.id, error: error instanceof Error ? error.message : String(error) });
    }
  })();
});
process.send!({ ready: true });

function reply(id: number, result: unknown): void {
  process.send!({ id, result: result ?? null });
}
