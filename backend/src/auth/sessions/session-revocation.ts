import { withTimeout } from "../../lib/with-timeout.ts";
import type { Logger } from "../../logging/logger.ts";
import { createPublisher, createSubscriber } from "../../pubsub/pubsub.ts";
import {
  sessionRevokedChannel,
  sessionRevokedSchema,
  type SessionRevocationReason,
  type SessionRevoked,
} from "../../pubsub/session-revoked.ts";
import type { RedisClient } from "../../redis/redis-connections.ts";
import type { SessionService } from "./session-service.ts";

/**
 * Returns a function publishing session revocations (and scope reductions, `reason`), bounded by `timeoutMs`
 * (rejects when Redis does not take it).
 */
export function sessionRevocationPublisher(
  client: RedisClient,
  keyPrefix: string,
  timeoutMs: number,
): (ids: string[], reason: SessionRevocationReason) => Promise<void> {
  const publisher = createPublisher(client);
  const channel = sessionRevokedChannel(keyPrefix);
  return async (ids, reason) => {
    await withTimeout(
      publisher.publish(channel, { sessionIds: ids, reason, at: new Date().toISOString() }),
      timeoutMs,
      "publish session revocation",
    );
  };
}

/** A running revocation listener. */
export interface SessionRevocationListener {
  /** Resolves once subscribed (not awaited at start-up: Redis may be down). */
  subscribed: Promise<void>;
  close(): Promise<void>;
}

/**
 * Applies every instance's session revocations and scope reductions in this process as they are published. Messages
 * sent while the subscriber was disconnected are lost, so after each reconnect the in-memory verifications are dropped
 * (the next request reads Redis, where revoked sessions are already gone and reduced scopes already written).
 */
export function listenForSessionRevocations(options: {
  connection: RedisClient;
  keyPrefix: string;
  sessions: Pick<SessionService, "forgetRevoked" | "forgetAllVerified">;
  logger: Logger;
}): SessionRevocationListener {
  const { connection, sessions, logger } = options;
  const channel = sessionRevokedChannel(options.keyPrefix);
  const subscriber = createSubscriber(connection, logger);
  const onReady = () => sessions.forgetAllVerified();
  connection.on("ready", onReady);
  // A message without a reason comes from an instance older than scope-reduced announcements: a revocation.
  const apply = (message: SessionRevoked) => sessions.forgetRevoked(message.sessionIds, message.reason ?? "revoked");
  const subscribed = subscriber.subscribe(channel, apply, sessionRevokedSchema).then(() => undefined);
  subscribed.catch((error: unknown) =>
    logger.warn({ channel, err: (error as Error).message }, "could not subscribe to session revocations"),
  );
  return {
    subscribed,
    async close() {
      connection.off("ready", onReady);
      await withTimeout(subscriber.close(), 1_000, "unsubscribe session revocations").catch(() => undefined);
    },
  };
}
