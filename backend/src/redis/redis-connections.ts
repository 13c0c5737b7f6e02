import { Cluster, Redis, type ClusterNode, type RedisOptions } from "ioredis";
import type { Logger } from "../logging/logger.ts";
import { redactUrl } from "../logging/logger.ts";
import { backoffDelayMs, type BackoffPolicy } from "../lib/retry.ts";

/** Defaults of `RedisConnectionOptions`; the REDIS_* defaults of config/config.ts are these. */
export const REDIS_CONNECTION_DEFAULTS = { protocol: 2, connectTimeoutMs: 2_000, commandTimeoutMs: 250 } as const;

/** A command connection: a single node or a cluster. Everything in this project accepts either. */
export type RedisClient = Redis | Cluster;

/** How to reach Redis. */
export interface RedisConnectionOptions {
  /** Single-node URL, e.g. redis://127.0.0.1:6379/0 (ignored when `clusterNodes` is set). */
  url: string;
  /** Cluster seed nodes as "host:port"; when set, cluster mode is used. */
  clusterNodes?: string[] | undefined;
  /** RESP version (default 2: ioredis drops client-tracking pushes under RESP3, see docs/cache.md). */
  protocol?: 2 | 3;
  /** TCP connect timeout in ms (default 2,000). */
  connectTimeoutMs?: number;
  /** Per-command timeout in ms (default 250): a slow Redis fails fast instead of hanging a request. */
  commandTimeoutMs?: number;
  /** A name shown in CLIENT LIST (default "spywatcher"). */
  connectionName?: string;
  /** AUTH password of every cluster node, and of the single node when its URL carries none (REDIS_PASSWORD). */
  password?: string | undefined;
  /** Connect with TLS (REDIS_TLS; a rediss:// URL does it for a single node anyway). */
  tls?: boolean;
}

/** The connections the service uses: one for commands, one dedicated to pub/sub. */
export interface RedisConnections {
  mode: "single" | "cluster";
  /** Command connection. Fails fast while disconnected (no offline queue), reconnects by itself. */
  client: RedisClient;
  /** Subscriber connection. Keeps its subscriptions across reconnects. */
  subscriber: RedisClient;
  /** Opens another command connection with the same settings (the caller closes it). */
  duplicate(name: string): RedisClient;
  /** Quits every connection this factory opened (bounded by a timeout, then disconnects). */
  close(): Promise<void>;
}

/**
 * Reconnect delay: 50 ms doubling to a 500 ms ceiling, forever; the circuit breaker decides what callers see. The
 * ceiling bounds how long after Redis is back the connection (and so the cache) stays unused: with 2 s it cost up
 * to 2 s after a restart. A refused connect attempt every 500 ms costs nothing.
 */
export function reconnectDelayMs(attempt: number): number {
  return backoffDelayMs(attempt, RECONNECT_BACKOFF);
}

const RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 50, maxMs: 500 };

/** Builds the command and subscriber connections for a single node or a Redis Cluster. */
export function createRedisConnections(options: RedisConnectionOptions, logger: Logger): RedisConnections {
  const opened: RedisClient[] = [];
  const mode = options.clusterNodes?.length ? "cluster" : "single";

  const open = (name: string, role: "command" | "subscriber"): RedisClient => {
    const connection = mode === "cluster" ? openCluster(options, name, role) : openSingle(options, name, role);
    watchConnection(connection, name, logger);
    opened.push(connection);
    return connection;
  };

  logger.info(
    mode === "cluster"
      ? { mode, nodes: options.clusterNodes }
      : { mode, url: redactUrl(options.url), protocol: options.protocol ?? REDIS_CONNECTION_DEFAULTS.protocol },
    "connecting to redis",
  );
  const base = options.connectionName ?? "spywatcher";
  return {
    mode,
    client: open(`${base}:command`, "command"),
    subscriber: open(`${base}:subscriber`, "subscriber"),
    duplicate: (name) => open(`${base}:${name}`, "command"),
    close: () => closeAll(opened),
  };
}

function baseOptions(options: RedisConnectionOptions, name: string, role: "command" | "subscriber"): RedisOptions {
  return {
    protocol: options.protocol ?? REDIS_CONNECTION_DEFAULTS.protocol,
    connectionName: name,
    connectTimeout: options.connectTimeoutMs ?? REDIS_CONNECTION_DEFAULTS.connectTimeoutMs,
    ...(options.password ? { password: options.password } : {}),
    // As document 001's production snippet: `tls: {}` (system CAs, the node's host name checked).
    ...(options.tls ? { tls: {} } : {}),
    // Subscribers block on reads by design; a command timeout would only break them.
    ...(role === "command"
      ? { commandTimeout: options.commandTimeoutMs ?? REDIS_CONNECTION_DEFAULTS.commandTimeoutMs }
      : {}),
    maxRetriesPerRequest: role === "command" ? 1 : null,
  };
}

function openSingle(options: RedisConnectionOptions, name: string, role: "command" | "subscriber"): Redis {
  const base = baseOptions(options, name, role);
  // A password in the URL is the one meant for this node; REDIS_PASSWORD only fills in a URL without one.
  if (new URL(options.url).password) delete base.password;
  return new Redis(options.url, {
    ...base,
    retryStrategy: reconnectDelayMs,
    // Without an offline queue, commands sent while Redis is down fail at once instead of waiting.
    enableOfflineQueue: role === "subscriber",
  });
}

function openCluster(options: RedisConnectionOptions, name: string, role: "command" | "subscriber"): Cluster {
  const nodes: ClusterNode[] = (options.clusterNodes ?? []).map((node) => {
    const [host, port] = node.split(":");
    return { host: host ?? "127.0.0.1", port: Number(port) };
  });
  return new Cluster(nodes, {
    redisOptions: baseOptions(options, name, role),
    clusterRetryStrategy: reconnectDelayMs,
    enableOfflineQueue: true,
    slotsRefreshTimeout: slotsRefreshTimeoutMs(options.commandTimeoutMs ?? REDIS_CONNECTION_DEFAULTS.commandTimeoutMs),
    // Each redirection or "Connection is closed" retry waits 100 ms (retryDelayOnFailover) and refreshes the slot
    // map; a command's caller gives up after the command timeout (250 ms) anyway, so on the command connection more
    // than 3 only kept dead commands cycling through a failover (about 40 refreshes per process per failover, each a
    // new connection and a 16,384-slot rebuild: docs/cache-resilience.md). The subscriber keeps ioredis's 16.
    maxRedirections: role === "command" ? 3 : 16,
  });
}

/**
 * How long a slot-map refresh waits for one node's `CLUSTER SLOTS` (a new connection plus the command) before trying
 * the next: twice the command timeout, at least 500 ms. ioredis tries the nodes one after another in random order,
 * and coalesces every refresh asked for meanwhile into the one in flight; with a frozen node first in line, a 2 s
 * wait (the connect timeout, used before) held the map, and so the hits on a promoted replica's slots, for up to 2 s
 * after the promotion (a CI run measured 2.4 s against issue 14's 2 s).
 */
function slotsRefreshTimeoutMs(commandTimeoutMs: number): number {
  return Math.max(500, 2 * commandTimeoutMs);
}

function watchConnection(connection: RedisClient, name: string, logger: Logger): void {
  let lastErrorLog = 0;
  connection.on("error", (error: Error) => {
    // ioredis emits an error on every failed reconnect; log at most one per 5 s so an outage does not flood logs.
    const now = Date.now();
    if (now - lastErrorLog < 5_000) return;
    lastErrorLog = now;
    // Document 001's troubleshooting section tells operators to look for these two lines, verbatim.
    logger.warn({ connection: name, err: error.message }, "Redis connection error");
  });
  connection.on("ready", () => logger.info({ connection: name }, "Redis connected successfully"));
}

async function closeAll(connections: RedisClient[]): Promise<void> {
  await Promise.all(
    connections.map(async (connection) => {
      if (connection.status === "end") return;
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          connection.disconnect();
          resolve();
        }, 1_000);
      });
      await Promise.race([
        connection.quit().then(
          () => undefined,
          () => connection.disconnect(),
        ),
        forced,
      ]);
      clearTimeout(timer);
    }),
  );
}

/** Resolves when the connection is ready, or rejects after `timeoutMs`. */
export function waitForRedisReady(connection: RedisClient, timeoutMs: number): Promise<void> {
  if (connection.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      connection.off("ready", onReady);
      reject(new Error(`redis not ready within ${timeoutMs} ms (status ${connection.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    connection.once("ready", onReady);
  });
}
