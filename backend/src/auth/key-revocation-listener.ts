import { withTimeout } from "../lib/with-timeout.ts";
import type { Logger } from "../logging/logger.ts";
import { apiKeyRevokedChannel, apiKeyRevokedSchema } from "../pubsub/api-key-revoked.ts";
import { createSubscriber } from "../pubsub/pubsub.ts";
import type { RedisClient } from "../redis/redis-connections.ts";
import type { ApiKeyService } from "./api-key-service.ts";

/** What the listener needs from the key service. */
export type RevocableKeys = Pick<ApiKeyService, "forgetRevokedKey" | "expireCachedLookups">;

/** Options of `listenForKeyRevocations`. */
export interface KeyRevocationListenerOptions {
  /** The dedicated subscriber connection (`RedisConnections.subscriber`); it may be shared with other subscribers. */
  connection: RedisClient;
  /** REDIS_KEY_PREFIX: the channel is `<keyPrefix>:auth:revoked`. */
  keyPrefix: string;
  keys: RevocableKeys;
  logger: Logger;
  /** Called after a broadcast revocation was applied (metrics, tests). */
  onRevoked?: (keyId: string) => void;
}

/** A running listener. */
export interface KeyRevocationListener {
  /** Resolves once the channel is subscribed (never awaited at start-up: Redis may be down). */
  subscribed: Promise<void>;
  /** Stops listening (bounded); the connection stays open, its owner closes it. */
  close(): Promise<void>;
}

/**
 * Applies every instance's revocations to this process's lookup cache as they are published. Messages published
 * while the subscriber was disconnected are lost, so after each reconnect every cached lookup is made stale (the
 * next request for each key asks PostgreSQL again): a missed revocation then costs nothing beyond the outage.
 */
export function listenForKeyRevocations(options: KeyRevocationListenerOptions): KeyRevocationListener {
  const { connection, keys, logger } = options;
  const channel = apiKeyRevokedChannel(options.keyPrefix);
  const subscriber = createSubscriber(connection, logger);

  const onReady = () => {
    keys.expireCachedLookups();
    // "ready" fires before ioredis re-sends SUBSCRIBE: a revocation published in between is missed, so expire again
    // once a SUBSCRIBE sent after the re-subscription is answered (same connection, answered in order).
    connection
      .subscribe(channel)
      .then(() => keys.expireCachedLookups())
      .catch(() => undefined);
  };
  connection.on("ready", onReady);

  const subscribed = subscriber
    .subscribe(
      channel,
      (revocation) => {
        keys.forgetRevokedKey(revocation.keyId);
        options.onRevoked?.(revocation.keyId);
      },
      apiKeyRevokedSchema,
    )
    .then(() => undefined);
  subscribed.catch((error: unknown) =>
    logger.warn({ channel, err: (error as Error).message }, "could not subscribe to api key revocations"),
  );

  return {
    subscribed,
    async close() {
      connection.off("ready", onReady);
      await withTimeout(subscriber.close(), 1_000, "unsubscribe api key revocations").catch(() => undefined);
    },
  };
}
