import type { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { LockPort, StatsPort } from "./cache-ports.ts";
import type { ResolvedCacheOptions } from "./cache-options.ts";
import type { InvalidationBus } from "./tags/invalidation-bus.ts";
import type { KeyBuilder } from "./keys/key-builder.ts";
import type { L1Store } from "./read/l1-store.ts";
import type { RedisGateway } from "./transport/redis-gateway.ts";
import type { TagVersionStore } from "./tags/tag-version-store.ts";

/** The parts of one cache instance, handed to each engine module (built once by `createCache`). */
export interface CacheContext {
  options: ResolvedCacheOptions;
  gateway: RedisGateway;
  keys: KeyBuilder;
  tags: TagVersionStore;
  bus: InvalidationBus;
  l1: L1Store | undefined;
  stats: StatsPort;
  lock: LockPort | undefined;
  /** The cache's own emitter ("refresh:done", "refresh:error", "refresh:skipped", "bypass"). */
  events: EventEmitter;
  logger: Logger | undefined;
}
