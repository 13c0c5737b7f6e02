import type { z } from "zod";
import type { Logger } from "../logging/logger.ts";
import type { RedisClient } from "../redis/redis-connections.ts";

/** Publishes JSON messages on Redis pub/sub. */
export interface Publisher {
  /** Publishes `message` as JSON; resolves with the receivers Redis reports (always 0 on a cluster). */
  publish(channel: string, message: unknown): Promise<number>;
}

/** Receives JSON messages from Redis pub/sub on a connection that may be shared with other subscribers. */
export interface Subscriber {
  /** Calls `handler` with each message on `channel` that parses (and fits `schema`); returns an unsubscribe function. */
  subscribe<T>(channel: string, handler: (message: T) => void, schema?: z.ZodType<T>): Promise<() => Promise<void>>;
  /** Unsubscribes every channel this subscriber holds; the connection itself stays open (its owner closes it). */
  close(): Promise<void>;
}

/** A publisher on a command connection (single node or cluster: PUBLISH reaches every node's subscribers). */
export function createPublisher(client: RedisClient): Publisher {
  return { publish: (channel, message) => client.publish(channel, JSON.stringify(message)) };
}

/**
 * A subscriber on a dedicated subscriber connection (`RedisConnections.subscriber`). Several subscribers can share
 * one connection: each handles only its own channels, and a channel is unsubscribed when its last handler leaves.
 */
export function createSubscriber(connection: RedisClient, logger: Logger): Subscriber {
  const handlers = new Map<string, Set<(raw: string) => void>>();

  const onMessage = (channel: string, raw: string) => {
    const forChannel = handlers.get(channel);
    if (!forChannel) return;
    for (const handle of forChannel) handle(raw);
  };
  connection.on("message", onMessage);

  const unsubscribeOne = async (channel: string, handle: (raw: string) => void) => {
    const forChannel = handlers.get(channel);
    if (!forChannel?.delete(handle) || forChannel.size > 0) return;
    handlers.delete(channel);
    await connection.unsubscribe(channel);
  };

  return {
    async subscribe<T>(channel: string, handler: (message: T) => void, schema?: z.ZodType<T>) {
      const handle = (raw: string) => {
        let message: unknown;
        try {
          message = JSON.parse(raw);
        } catch {
          logger.warn({ channel }, "pub/sub: ignoring a message that is not JSON");
          return;
        }
        const parsed = schema ? schema.safeParse(message) : { success: true as const, data: message as T };
        if (!parsed.success) {
          logger.warn(
            { channel, issues: parsed.error.issues.length },
            "pub/sub: ignoring a message of the wrong shape",
          );
          return;
        }
        try {
          handler(parsed.data);
        } catch (error) {
          logger.error({ channel, err: error }, "pub/sub: handler failed");
        }
      };
      let forChannel = handlers.get(channel);
      const first = !forChannel;
      if (!forChannel) handlers.set(channel, (forChannel = new Set()));
      forChannel.add(handle);
      if (first) await connection.subscribe(channel);
      return () => unsubscribeOne(channel, handle);
    },
    async close() {
      connection.off("message", onMessage);
      const channels = [...handlers.keys()];
      handlers.clear();
      if (channels.length > 0 && connection.status === "ready")
        await connection.unsubscribe(...channels).catch(() => undefined);
    },
  };
}
