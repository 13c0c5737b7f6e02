import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { ANALYTICS_TYPES } from "../analytics/analytics-catalog.ts";
import { liveCountersSchema, type LiveCountersMessage } from "../activity/live-counters-channel.ts";
import type { Principal } from "../auth/principal.ts";
import type { Logger } from "../logging/logger.ts";
import type { SessionRevocationReason } from "../pubsub/session-revoked.ts";
import { analyticsUpdateChannel, analyticsUpdateSchema, type AnalyticsUpdate } from "../pubsub/analytics-update.ts";
import { notificationChannel, notificationMessageSchema, type NotificationMessage } from "../pubsub/notification.ts";
import { createSubscriber } from "../pubsub/pubsub.ts";
import type { RedisClient } from "../redis/redis-connections.ts";
import { GuildSubscriptions } from "./guild-subscriptions.ts";
import { RealtimeClient, type KeyAuthenticator } from "./realtime-client.ts";
import { resolveRealtimeOptions, type RealtimeOptions } from "./realtime-options.ts";
import { CLOSE_CODES } from "./realtime-protocol.ts";
import { createRealtimeCounters, type RealtimeCounters } from "./realtime-stats.ts";
import { authenticateUpgrade } from "./upgrade-authentication.ts";
import { rejectUpgrade, type UpgradeRejection } from "./upgrade-rejection.ts";

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
  /** Limits and timings; each missing (or undefined) one takes its default (see `resolveRealtimeOptions`). */
  options?: Partial<RealtimeOptions>;
  /** Take the client's address from X-Forwarded-For (TRUST_PROXY, as the HTTP app does); default false. */
  trustProxy?: boolean;
  /** Channel of live activity counters (`liveCountersChannel`), pushed as `activity:live`; none: not pushed. */
  liveCountersChannel?: string;
}

/** Counters plus live gauges of the endpoint. */
export interface RealtimeStats extends RealtimeCounters {
  /** Open sockets. */
  connections: number;
  /** Open sockets that have not authenticated yet (opened without an Authorization header, no `auth` accepted yet). */
  unauthenticated: number;
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
  /**
   * Closes every socket authenticated with one of these sessions, at once: 4401 when they were revoked, 4403 when
   * their scope shrank (the client reconnects with the current scope); returns how many.
   */
  closeSessions(sessionIds: string[], reason?: SessionRevocationReason): number;
  /** Stops accepting upgrades, closes every socket with 1001, unsubscribes the channel. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves `/ws` on the service's HTTP server: authenticated sockets subscribe to guilds and get an
 * `analytics:update` push for every update any instance publishes on Redis pub/sub. This process subscribes to
 * the channel once and fans each update out to its own sockets of that guild.
 */
export function attachRealtime(deps: RealtimeServerDependencies): RealtimeServer {
  const options: RealtimeOptions = resolveRealtimeOptions(deps.options);
  const { server, auth, logger } = deps;
  const counters = createRealtimeCounters();
  const subscriptions = new GuildSubscriptions<RealtimeClient>();
  const clients = new Set<RealtimeClient>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes, clientTracking: false });
  let pendingUpgrades = 0;
  let closing: Promise<void> | undefined;

  // Sockets opened without an Authorization header that have not authenticated yet, and such upgrades in flight:
  // they are bounded apart from the connection bound, so idle unauthenticated sockets cannot use up all of it.
  const unauthenticated = new Set<RealtimeClient>();
  let pendingUnauthenticated = 0;

  const refusal = (request: IncomingMessage): UpgradeRejection | undefined => {
    // The path is taken without URL parsing: Node's parser accepts request targets (`//[/ws`, `http://[`) that
    // `new URL` throws on, and a throw here would escape the "upgrade" listener and end the process.
    const path = (request.url ?? "/").split("?", 1)[0]!;
    if (path !== options.path)
      return {
        status: 404,
        code: "E_NOT_FOUND",
        message: `no WebSocket endpoint at ${path.slice(0, 200)}; use ${options.path}`,
      };
    if (closing) return { status: 503, code: "E_SHUTTING_DOWN", message: "the service is stopping" };
    if (clients.size + pendingUpgrades >= options.maxConnections) {
      counters.rejectedAtLimit += 1;
      return {
        status: 503,
        code: "E_LIMIT",
        message: `at most ${options.maxConnections} WebSocket connections; try again later`,
      };
    }
    if (
      request.headers.authorization === undefined &&
      unauthenticated.size + pendingUnauthenticated >= options.maxUnauthenticatedConnections
    ) {
      counters.rejectedAtLimit += 1;
      return {
        status: 503,
        code: "E_LIMIT",
        message: `at most ${options.maxUnauthenticatedConnections} WebSocket connections may wait for their auth message; try again later, or authenticate with the Authorization header`,
      };
    }
    return undefined;
  };

  const accept = (
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    authenticated: { principal: Principal; key: string } | undefined,
  ) => {
    wss.handleUpgrade(request, socket, head, (socket) => {
      counters.accepted += 1;
      const client = new RealtimeClient({
        socket,
        auth,
        clientIp: upgradeClientIp(request, deps.trustProxy ?? false),
        subscriptions,
        options,
        counters,
        logger,
        authenticated,
        onAuthenticated: (done) => unauthenticated.delete(done),
        onClosed: (closed) => {
          clients.delete(closed);
          unauthenticated.delete(closed);
        },
      });
      clients.add(client);
      if (!authenticated) unauthenticated.add(client);
    });
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node removed its own error listener from an upgraded socket: without one, a reset during the key check would crash.
    socket.on("error", () => socket.destroy());
    // Nothing an upgrade request carries may throw out of this listener: an exception here would end the process.
    try {
      const rejection = refusal(request);
      if (rejection) {
        counters.rejectedUpgrades += 1;
        rejectUpgrade(socket, rejection);
        return;
      }
      const withoutHeader = request.headers.authorization === undefined;
      pendingUpgrades += 1;
      if (withoutHeader) pendingUnauthenticated += 1;
      const clientIp = upgradeClientIp(request, deps.trustProxy ?? false);
      void authenticateUpgrade(request, auth, clientIp)
        .finally(() => {
          pendingUpgrades -= 1;
          if (withoutHeader) pendingUnauthenticated -= 1;
        })
        .then((result) => {
          if (!result.ok || closing) {
            counters.rejectedUpgrades += 1;
            rejectUpgrade(
              socket,
              result.ok
                ? { status: 503, code: "E_SHUTTING_DOWN", message: "the service is stopping" }
                : result.rejection,
            );
            return;
          }
          accept(request, socket, head, result.authenticated);
        })
        .catch((error: unknown) => {
          // The handshake may already have been answered: the only safe end is to drop the connection.
          logger.error({ err: error instanceof Error ? error.message : String(error) }, "realtime: upgrade failed");
          counters.rejectedUpgrades += 1;
          socket.destroy();
        });
    } catch (error) {
      logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "realtime: upgrade request could not be handled",
      );
      counters.rejectedUpgrades += 1;
      try {
        rejectUpgrade(socket, {
          status: 400,
          code: "E_BAD_REQUEST",
          message: "the upgrade request could not be handled",
        });
      } catch {
        socket.destroy();
      }
    }
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

  // Notifications go to the sockets of one user, or of every admin, on whichever instance holds them: O(sockets)
  // per notification (notifications are rare next to analytics updates, which are indexed by guild).
  const deliver = (message: NotificationMessage) => {
    for (const client of clients) if (client.notifyIfRecipient(message)) counters.notificationsDelivered += 1;
  };

  const subscriber = createSubscriber(deps.subscriber, logger);
  const subscribed = Promise.all([
    subscriber.subscribe(channel, fanOut, analyticsUpdateSchema),
    subscriber.subscribe(notificationChannel(deps.keyPrefix), deliver, notificationMessageSchema),
  ])
    .then(() => logger.debug({ channel }, "realtime: subscribed to analytics updates and notifications"))
    .catch((error: unknown) =>
      logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "realtime: could not subscribe to analytics updates",
      ),
    );

  if (deps.liveCountersChannel) {
    const liveChannel = deps.liveCountersChannel;
    subscriber
      .subscribe(
        liveChannel,
        (counters: LiveCountersMessage) => {
          for (const client of subscriptions.listenersOf(counters.guildId)) client.pushLive(counters);
        },
        liveCountersSchema,
      )
      .catch((error: unknown) =>
        logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          "realtime: could not subscribe to live activity counters",
        ),
      );
  }

  const close = () => {
    closing ??= (async () => {
      server.off("upgrade", onUpgrade);
      clearInterval(heartbeat);
      deps.subscriber.off("ready", onSubscriberReady);
      const closed = [...clients].map(
        (client) =>
          new Promise<void>((resolve) => {
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

  const closeSessions = (sessionIds: string[], reason: SessionRevocationReason = "revoked"): number => {
    const revoked = new Set(sessionIds);
    let closed = 0;
    for (const client of clients) if (client.closeIfSessionRevoked(revoked, reason)) closed += 1;
    if (closed > 0)
      logger.info({ sockets: closed, reason }, "realtime: closed the sockets of revoked or re-scoped sessions");
    return closed;
  };

  const stats = (): RealtimeStats => ({
    ...counters,
    connections: clients.size,
    unauthenticated: unauthenticated.size,
    subscriptions: subscriptions.size(),
    guilds: subscriptions.guilds().length,
  });

  return { subscribed, stats, closeKey, closeSessions, close };
}

/** The client's address as Express would give it: the left-most X-Forwarded-For entry behind a trusted proxy. */
function upgradeClientIp(request: IncomingMessage, trustProxy: boolean): string | undefined {
  const forwarded = request.headers["x-forwarded-for"];
  if (trustProxy && typeof forwarded === "string" && forwarded.trim() !== "") return forwarded.split(",", 1)[0]!.trim();
  return request.socket.remoteAddress;
}
