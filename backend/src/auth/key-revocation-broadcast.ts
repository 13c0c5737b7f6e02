import { Cluster } from "ioredis";
import { withTimeout } from "../lib/with-timeout.ts";
import { apiKeyRevokedChannel, type ApiKeyRevoked } from "../pubsub/api-key-revoked.ts";
import { createPublisher } from "../pubsub/pubsub.ts";
import { waitForRedisReady, type RedisClient } from "../redis/redis-connections.ts";

/** Tells every running API instance that a key was revoked (its id only). */
export interface KeyRevocationBroadcaster {
  /**
   * Publishes the revocation and resolves with the number of subscribers Redis delivered it to (undefined when
   * Redis cannot tell, as on a cluster); rejects when it could not be sent (the caller decides what that means).
   */
  publish(revocation: ApiKeyRevoked): Promise<number | undefined>;
}

/** Where revocations are published, and how long to wait in all. */
export interface RedisRevocationBroadcasterOptions {
  /** A command connection (single node or cluster). */
  client: RedisClient;
  /** REDIS_KEY_PREFIX: the channel is `<keyPrefix>:auth:revoked`. */
  keyPrefix: string;
  /** Longest wait in total, for the connection to be ready and then for the PUBLISH, in ms (a CLI's connection is brand new). */
  timeoutMs: number;
}

/** Publishes revocations on Redis pub/sub, bounded: an unreachable or hung Redis rejects after at most `timeoutMs`. */
export function redisRevocationBroadcaster(options: RedisRevocationBroadcasterOptions): KeyRevocationBroadcaster {
  const publisher = createPublisher(options.client);
  const channel = apiKeyRevokedChannel(options.keyPrefix);
  // A cluster's PUBLISH reply counts the subscribers of the node it was sent to only: no fleet-wide count.
  const countsReceivers = !(options.client instanceof Cluster);
  const send = async (revocation: ApiKeyRevoked) => {
    // Command connections have no offline queue: a PUBLISH sent before the connection is ready would fail at once.
    await waitForRedisReady(options.client, options.timeoutMs);
    const receivers = await publisher.publish(channel, revocation);
    return countsReceivers ? receivers : undefined;
  };
  return {
    // One deadline for both steps: a connection ready just in time must not get a second full timeout to publish.
    publish: (revocation) => withTimeout(send(revocation), options.timeoutMs, "publish api key revocation"),
  };
}
