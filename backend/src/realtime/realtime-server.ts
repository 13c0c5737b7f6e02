import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { ANALYTICS_TYPES } from "../analytics/analytics-catalog.ts";
import type { Logger } from "../logging/logger.ts";
import { analyticsUpdateChannel, analyticsUpdateSchema, type AnalyticsUpdate } from "../pubsub/analytics-update.ts";
import { createSubscriber } from "../pubsub/pubsub.ts";
import type { RedisClient } from "../redis/redis-connections.ts";
import { GuildSubscriptions } from "./guild-subscriptions.ts";
import { RealtimeClient, type KeyAuthenticator } from "./realtime-client.ts";
import { DEFAULT_REALTIME_OPTIONS, type RealtimeOptions } from "./realtime-options.ts";
import { CLOSE_CODES } from "./realtime-protocol.ts";
import { createRealtimeCounters, type RealtimeCounters } from "./realtime-stats.ts";
import { authenticateUpgrade } from "./upgrade-authentication.ts";
import { rejectUpgrade } from "./upgrade-rejection.ts";

/** What the `/ws` endpoint needs. */
export interface RealtimeServerDependencies {
  /** The service's HTTP server: the endpoint shares its port through the `upgrade` event. */
  server: Server;
  /** The API key check the analytics routes use. */
  auth: KeyAuthenticator;
  /** The dedicated pub/sub connection (`RedisConnections.subscriber`); shared with other subscribers, closed by its owner. */
  subscriber: RedisClient;
  /** REDIS_KEY_PREFIX: updates arrive on `<keyPrefix>:analytics:update`. */
  keyPrefix: string;
  logger: Logger;
  /** Limits and timings; each missing one takes its default (see `DEFAULT_REALTIME_OPTIONS`). */
  options?: Partial<RealtimeOptions>;
}

/** Counters plus live gauges of the endpoint. */
export interface RealtimeStats extends RealtimeCounters {
  /** Open sockets. */
  connections: number;
  /** (guild, socket) subscription pairs. */
  subscriptions: number;
  /** Guilds with at least one subscribed socket in this process. */
  guilds: number;
}

/** The running endpoint. */
export interface RealtimeServer {
  /** Resolves once the update channel is subscribed (not awaited at start-up: Redis may be down; it rejects never). */
  subscribed: Promise<void>;
  stats(): RealtimeStats;
  /** Closes (4401) every socket authenticated with the API key `keyId`, at once (a revocation); returns how many. */
  closeKey(keyId: string): number;
  /** Stops accepting upgrades, closes every socket with 1001, unsubscribes the channel. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves `/ws` on the service's HTTP server: authenticated sockets subscribe to guilds and get an
 * `analytics:update` push for every update any instance publishes on Redis pub/sub. This process subscribes to
 * the channel once and fans each update out to its own sockets of that guild.
 */
export function attachRealtime(deps: RealtimeServerDependencies): RealtimeServer {
  const options: RealtimeOptions = { ...DEFAULT_REALTIME_OPTIONS, ...deps.options };
  const { server, auth, logger } = deps;
  const counters = createRealtimeCounters();
  const subscriptions = new GuildSubscriptions<RealtimeClient>();
  const clients = new Set<RealtimeClient>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes, clientTracking: false });
  let pendingUpgrades = 0;
  let closing: Promise<void> | undefined;

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node removed its own error listener from an upgraded socket: without one, a reset during the key check would crash.
    socket.on("error", () => socket.destroy());
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    if (path !== options.path) {
      counters.rejectedUpgrades += 1;
      rejectUpgrade(socket, { status: 404, code: "E_NOT_FOUND", message: `no WebSocket endpoint at ${path}; use ${options.path}` });
      return;
    }
    if (closing || clients.size + pendingUpgrades >= options.maxConnections) {
      counters.rejectedUpgrades += 1;
      if (!closing) counters.rejectedAtLimit += 1;
      rejectUpgrade(
        socket,
        closing
          ? { status: 503, code: "E_SHUTTING_DOWN", message: "the service is stopping" }
          : { status: 503, code: "E_LIMIT", message: `at most ${options.maxConnections} WebSocket connections; try again later` },
      );
      return;
    }
    pendingUpgrades += 1;
    void authenticateUpgrade(request, auth).then((result) => {
      pendingUpgrades -= 1;
      if (!result.ok || closing) {
        counters.rejectedUpgrades += 1;
        rejectUpgrade(socket, result.ok ? { status: 503, code: "E_SHUTTING_DOWN", message: "the service is stopping" } : result.rejection);
        return;
      }
      wss.handleUpgrade(request, socket, head, (socket) => {
        counters.accepted += 1;
        const client = new RealtimeClient({
          socket,
          auth,
          subscriptions,
          options,
          counters,
          logger,
          authenticated: result.authenticated,
          onClosed: (closed) => clients.delete(closed),
        });
        clients.add(client);
      });
    });
  };
  server.on("upgrade", onUpgrade);

  const heartbeat = setInterval(() => {
    for (const client of clients) client.heartbeat();
  }, options.heartbeatIntervalMs);
  heartbeat.unref();

  const fanOut = (update: AnalyticsUpdate) => {
    counters.updatesReceived += 1;
    for (const client of subscriptions.listenersOf(update.guildId)) client.push(update);
  };

  // Updates published while this process's pub/sub connection was down are lost; after it reconnects, every
  // subscribed socket is told to refetch all analytics of its guilds (once the re-subscription is confirmed, so an
  // update published after the resync push is delivered).
  const channel = analyticsUpdateChannel(deps.keyPrefix);
  const onSubscriberReady = () => {
    deps.subscriber
      .subscribe(channel)
      .then(() => {
        const at = new Date().toISOString();
        for (const guildId of subscriptions.guilds()) {
          for (const client of subscriptions.listenersOf(guildId)) {
            counters.resyncPushes += 1;
            client.push({ guildId, types: [...ANALYTICS_TYPES], at }, true);
          }
        }
      })
      .catch(() => undefined);
  };
  deps.subscriber.on("ready", onSubscriberReady);

  const subscriber = createSubscriber(deps.subscriber, logger);
  const subscribed = subscriber
    .subscribe(channel, fanOut, analyticsUpdateSchema)
    .then(() => logger.debug({ channel }, "realtime: subscribed to analytics updates"))
    .catch((error: unknown) => logger.warn({ err: error instanceof Error ? error.message : String(error) }, "realtime: could not subscribe to analytics updates"));

  const close = () => {
    closing ??= (async () => {
      server.off("upgrade", onUpgrade);
      clearInterval(heartbeat);
      deps.subscriber.off("ready", onSubscriberReady);
      const closed = [...clients].map(
        (client) => new Promise<void>((resolve) => {
          client.onceClosed(resolve);
          client.closeWith(CLOSE_CODES.goingAway, "server shutting down");
        }),
      );
      await Promise.all(closed);
      await subscriber.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      logger.debug(counters, "realtime: closed");
    })();
    return closing;
  };

  const closeKey = (keyId: string): number => {
    let closed = 0;
    for (const client of clients) if (client.closeIfKeyRevoked(keyId)) closed += 1;
    if (closed > 0) logger.info({ keyId, sockets: closed }, "realtime: closed the sockets of a revoked API key");
    return closed;
  };

  const stats = (): RealtimeStats => ({
    ...counters,
    connections: clients.size,
    subscriptions: subscriptions.size(),
    guilds: subscriptions.guilds().length,
  });

  return { subscribed, stats, closeKey, close };
}
