import { withTimeout } from "../lib/with-timeout.ts";
import { apiKeyRevokedChannel, type ApiKeyRevoked } from "../pubsub/api-key-revoked.ts";
import { createPublisher } from "../pubsub/pubsub.ts";
import { waitForRedisReady, type RedisClient } from "../redis/redis-connections.ts";

/** Tells every running API instance that a key was revoked (its id only). */
export interface KeyRevocationBroadcaster {
  /** Publishes the revocation; rejects when it could not be sent (the caller decides what that means). */
  publish(revocation: ApiKeyRevoked): Promise<void>;
}

/** Where revocations are published, and how long to wait for the connection. */
export interface RedisRevocationBroadcasterOptions {
  /** A command connection (single node or cluster). */
  client: RedisClient;
  /** REDIS_KEY_PREFIX: the channel is `<keyPrefix>:auth:revoked`. */
  keyPrefix: string;
  /** Longest wait for the connection to be ready, then for the PUBLISH, in ms (a CLI's connection is brand new). */
  timeoutMs: number;
}

/** Publishes revocations on Redis pub/sub, bounded: an unreachable Redis rejects after at most 2 x `timeoutMs`. */
export function redisRevocationBroadcaster(options: RedisRevocationBroadcasterOptions): KeyRevocationBroadcaster {
  const publisher = createPublisher(options.client);
  const channel = apiKeyRevokedChannel(options.keyPrefix);
  return {
    async publish(revocation) {
      // Command connections have no offline queue: a PUBLISH sent before the connection is ready would fail at once.
      await waitForRedisReady(options.client, options.timeoutMs);
      await withTimeout(publisher.publish(channel, revocation), options.timeoutMs, "publish api key revocation");
    },
  };
}
