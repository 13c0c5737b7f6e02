/**
 * Document 001's three services, by the names it uses, in one place. Nothing here is created at import: the
 * service's composition root (`service.ts`, started by `main.ts`) builds one of each on its own connections and
 * exposes them as `RunningService.services`; tests and tools build their own.
 *
 * - `CacheService`: the cache layer (`cache.get/set/remember/getOrSet/invalidateByTag(s)/deleteMany/clearPattern/
 *   warm/getStats`), built with `createCache` (or `createServiceCache` from CACHE_*).
 * - `PubSubService`: JSON pub/sub on one shared subscriber connection, `publishAnalyticsUpdate`, `publishNotification`.
 * - `CacheInvalidationService`: `onMessageCreated`, `onTypingEvent`, `onPresenceUpdate`, `onRoleChanged`, … into the
 *   declarative invalidation table, coalesced per guild.
 */
export { SpyCache as CacheService, createCache } from "./cache/index.ts";
export { PubSubService } from "./pubsub/pubsub-service.ts";
export { CacheInvalidationService } from "./invalidation/cache-invalidation-service.ts";

import type { SpyCache } from "./cache/index.ts";
import type { CacheInvalidationService } from "./invalidation/cache-invalidation-service.ts";
import type { PubSubService } from "./pubsub/pubsub-service.ts";

/** The running service's instances, as document 001 names them (`cache`, `pubsub`, `cacheInvalidation`). */
export interface DocumentedServices {
  cache: SpyCache;
  pubsub: PubSubService;
  /** Undefined when the Discord side is off (DISCORD_ENABLED=false): nothing then reports events. */
  cacheInvalidation: CacheInvalidationService | undefined;
}
