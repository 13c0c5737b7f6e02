import type { Logger } from "../logging/logger.ts";
import type { RedisClient } from "../redis/redis-connections.ts";
import { analyticsUpdateChannel, type AnalyticsUpdate } from "./analytics-update.ts";
import { notificationChannel, type NotificationMessage } from "./notification.ts";
import type { AnalyticsType } from "../analytics/analytics-catalog.ts";

/** A handler of one pub/sub message: the parsed JSON and the channel it came on (without the key prefix). */
export type MessageHandler<T = unknown> = (message: T, channel: string) => void | Promise<void>;

/** What a PubSubService is built from. */
export interface PubSubServiceOptions {
  /** Command connection: PUBLISH (single node or cluster). Not closed by `close()`. */
  publisher: RedisClient;
  /** The one subscriber connection every handler shares (`RedisConnections.subscriber`). Not closed by `close()`. */
  subscriber: RedisClient;
  /** REDIS_KEY_PREFIX: every channel is `<keyPrefix>:<channel>`, so deployments sharing a Redis stay apart. */
  keyPrefix: string;
  logger: Logger;
  /** Results whose JSON is larger than this are published as a version to refetch, not inline (default 64 KiB). */
  maxInlineBytes?: number;
}

/** Counters since the service started. */
export interface PubSubStats {
  published: number;
  received: number;
  /** Messages that were not JSON (ignored). */
  malformed: number;
  /** Handler calls that threw or rejected (isolated: other handlers still ran). */
  handlerErrors: number;
}

/**
 * Document 001's `PubSubService`: JSON messages on Redis pub/sub, `publish`, `subscribe` (exact channels) and
 * `psubscribe` (glob patterns), `unsubscribe`, on ONE shared subscriber connection. A throwing handler is logged and
 * isolated from the others; ioredis re-subscribes every channel and pattern after a reconnect (single node and
 * cluster alike). Plus the two helpers the document names: `publishAnalyticsUpdate` and `publishNotification`.
 */
export class PubSubService {
  private readonly publisher: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly prefix: string;
  private readonly logger: Logger;
  private readonly maxInlineBytes: number;
  private readonly channels = new Map<string, Set<MessageHandler>>();
  private readonly patterns = new Map<string, Set<MessageHandler>>();
  private readonly counters: PubSubStats = { published: 0, received: 0, malformed: 0, handlerErrors: 0 };
  private readonly onMessage = (channel: string, raw: string) =>
    this.dispatch(this.channels.get(channel), channel, raw);
  private readonly onPatternMessage = (pattern: string, channel: string, raw: string) =>
    this.dispatch(this.patterns.get(pattern), channel, raw);

  constructor(options: PubSubServiceOptions) {
    this.publisher = options.publisher;
    this.subscriber = options.subscriber;
    this.prefix = `${options.keyPrefix}:`;
    this.logger = options.logger;
    this.maxInlineBytes = options.maxInlineBytes ?? 64 * 1024;
    this.subscriber.on("message", this.onMessage);
    this.subscriber.on("pmessage", this.onPatternMessage);
  }

  /** Publishes `data` as JSON on `channel`; resolves with the receivers Redis reports (always 0 on a cluster). */
  async publish(channel: string, data: unknown): Promise<number> {
    const receivers = await this.publisher.publish(this.prefix + channel, JSON.stringify(data));
    this.counters.published += 1;
    return receivers;
  }

  /** Calls `handler` with every message on `channel` (JSON-parsed); resolves once Redis confirmed the subscription. */
  subscribe<T = unknown>(channel: string, handler: MessageHandler<T>): Promise<void> {
    return this.add(this.channels, this.prefix + channel, handler as MessageHandler, (full) =>
      this.subscriber.subscribe(full),
    );
  }

  /** Calls `handler` with every message on a channel matching the glob `pattern` (e.g. `analytics:*`). */
  psubscribe<T = unknown>(pattern: string, handler: MessageHandler<T>): Promise<void> {
    return this.add(this.patterns, this.prefix + pattern, handler as MessageHandler, (full) =>
      this.subscriber.psubscribe(full),
    );
  }

  /** Removes `handler` from `channel` (or every handler without one); the channel is left when its last handler goes. */
  unsubscribe(channel: string, handler?: MessageHandler<never>): Promise<void> {
    return this.remove(this.channels, this.prefix + channel, handler as MessageHandler | undefined, (full) =>
      this.subscriber.unsubscribe(full),
    );
  }

  /** `unsubscribe` for a pattern. */
  punsubscribe(pattern: string, handler?: MessageHandler<never>): Promise<void> {
    return this.remove(this.patterns, this.prefix + pattern, handler as MessageHandler | undefined, (full) =>
      this.subscriber.punsubscribe(full),
    );
  }

  /**
   * Tells every instance that `type` of `guildId` has a fresh result: WebSockets subscribed to the guild receive it
   * as `analytics:update` with `data`. A result whose JSON is over `maxInlineBytes` is sent as `version` (its
   * computation time) with `refetch: true` instead, so a big result does not flood pub/sub.
   */
  publishAnalyticsUpdate(
    guildId: string,
    type: AnalyticsType,
    data: unknown,
    options: { version?: string } = {},
  ): Promise<number> {
    const at = new Date().toISOString();
    const json = data === undefined ? undefined : JSON.stringify(data);
    const update: AnalyticsUpdate =
      json !== undefined && Buffer.byteLength(json) <= this.maxInlineBytes
        ? { guildId, types: [type], analytic: type, at, data }
        : { guildId, types: [type], analytic: type, at, version: options.version ?? at, refetch: true };
    return this.publishRaw(analyticsUpdateChannel(this.prefix.slice(0, -1)), update);
  }

  /** Delivers `notification` to the WebSockets of user `userId` (the owner of an API key or a session), on any instance. */
  publishNotification(userId: string, notification: Record<string, unknown>): Promise<number> {
    return this.publishRaw(notificationChannel(this.prefix.slice(0, -1)), {
      to: { userId },
      notification,
      at: new Date().toISOString(),
    } satisfies NotificationMessage);
  }

  /** Delivers `notification` to every admin-scoped WebSocket, on any instance (fired alerts use this). */
  publishAdminNotification(notification: Record<string, unknown>): Promise<number> {
    return this.publishRaw(notificationChannel(this.prefix.slice(0, -1)), {
      to: { admins: true },
      notification,
      at: new Date().toISOString(),
    } satisfies NotificationMessage);
  }

  /** Counters since start. */
  stats(): PubSubStats {
    return { ...this.counters };
  }

  /** Leaves every channel and pattern this service holds; the connections stay open (their owner closes them). */
  async close(): Promise<void> {
    this.subscriber.off("message", this.onMessage);
    this.subscriber.off("pmessage", this.onPatternMessage);
    const channels = [...this.channels.keys()];
    const patterns = [...this.patterns.keys()];
    this.channels.clear();
    this.patterns.clear();
    if (this.subscriber.status !== "ready") return;
    if (channels.length > 0) await this.subscriber.unsubscribe(...channels).catch(() => undefined);
    if (patterns.length > 0) await this.subscriber.punsubscribe(...patterns).catch(() => undefined);
  }

  private async publishRaw(fullChannel: string, message: unknown): Promise<number> {
    const receivers = await this.publisher.publish(fullChannel, JSON.stringify(message));
    this.counters.published += 1;
    return receivers;
  }

  private async add(
    registry: Map<string, Set<MessageHandler>>,
    full: string,
    handler: MessageHandler,
    join: (full: string) => Promise<unknown>,
  ): Promise<void> {
    let handlers = registry.get(full);
    const first = !handlers;
    if (!handlers) registry.set(full, (handlers = new Set()));
    handlers.add(handler);
    if (first) await join(full);
  }

  private async remove(
    registry: Map<string, Set<MessageHandler>>,
    full: string,
    handler: MessageHandler | undefined,
    leave: (full: string) => Promise<unknown>,
  ): Promise<void> {
    const handlers = registry.get(full);
    if (!handlers) return;
    if (handler) handlers.delete(handler);
    else handlers.clear();
    if (handlers.size > 0) return;
    registry.delete(full);
    await leave(full);
  }

  private dispatch(handlers: Set<MessageHandler> | undefined, fullChannel: string, raw: string): void {
    if (!handlers || handlers.size === 0) return;
    this.counters.received += 1;
    let message: unknown;
    try {
      message = JSON.parse(raw);
    } catch {
      this.counters.malformed += 1;
      this.logger.warn({ channel: fullChannel }, "pub/sub: ignoring a message that is not JSON");
      return;
    }
    const channel = fullChannel.startsWith(this.prefix) ? fullChannel.slice(this.prefix.length) : fullChannel;
    for (const handler of [...handlers]) {
      // Each handler on its own: one that throws (or rejects) is logged and the others still run.
      try {
        const result = handler(message, channel);
        if (result instanceof Promise) result.catch((error: unknown) => this.handlerFailed(channel, error));
      } catch (error) {
        this.handlerFailed(channel, error);
      }
    }
  }

  private handlerFailed(channel: string, error: unknown): void {
    this.counters.handlerErrors += 1;
    this.logger.error(
      { channel, err: error instanceof Error ? error.message : String(error) },
      "pub/sub: handler failed",
    );
  }
}
