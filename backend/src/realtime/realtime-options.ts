/** Limits and timings of the `/ws` endpoint (env var in brackets). */
export interface RealtimeOptions {
  /** Path of the endpoint on the HTTP server (default "/ws"). */
  path: string;
  /** Open sockets at most; an upgrade beyond it gets HTTP 503 (WS_MAX_CONNECTIONS, default 1,000). */
  maxConnections: number;
  /**
   * Sockets opened without an Authorization header that have not authenticated yet, at most; a header-less upgrade
   * beyond it gets HTTP 503, upgrades with the header are not affected (WS_MAX_UNAUTHENTICATED_CONNECTIONS,
   * default 10% of `maxConnections`, at least 10).
   */
  maxUnauthenticatedConnections: number;
  /** Guilds one socket may subscribe to; beyond it the subscribe gets an E_LIMIT error frame (WS_MAX_SUBSCRIPTIONS, default 50). */
  maxSubscriptionsPerSocket: number;
  /** Time a socket opened without an Authorization header has to send its `auth` message (WS_AUTH_TIMEOUT_MS, default 5,000). */
  authTimeoutMs: number;
  /** Ping interval; a socket that has not answered the previous ping is terminated (WS_HEARTBEAT_INTERVAL_MS, default 30,000). */
  heartbeatIntervalMs: number;
  /** Unsent bytes a socket may hold before it is closed as a slow consumer (WS_MAX_BUFFERED_BYTES, default 1 MiB). */
  maxBufferedBytes: number;
  /** Frames answered with an error frame in a row (none handled in between) that close the socket with 1008 (default 20). */
  maxConsecutiveBadFrames: number;
  /** Largest frame a client may send; a bigger one closes the socket with 1009 (default 4 KiB). */
  maxPayloadBytes: number;
  /** Time `close()` waits for sockets to finish their closing handshake before terminating them (default 2,000). */
  closeTimeoutMs: number;
}

/** The defaults of every option but `maxUnauthenticatedConnections`, which follows `maxConnections`. */
export const DEFAULT_REALTIME_OPTIONS: Omit<RealtimeOptions, "maxUnauthenticatedConnections"> = {
  path: "/ws",
  maxConnections: 1_000,
  maxSubscriptionsPerSocket: 50,
  authTimeoutMs: 5_000,
  heartbeatIntervalMs: 30_000,
  maxBufferedBytes: 1024 * 1024,
  maxConsecutiveBadFrames: 20,
  maxPayloadBytes: 4 * 1024,
  closeTimeoutMs: 2_000,
};

/** The default of `maxUnauthenticatedConnections` for a connection bound: 10% of it, at least 10 (never above it). */
export function defaultMaxUnauthenticated(maxConnections: number): number {
  return Math.min(maxConnections, Math.max(10, Math.floor(maxConnections / 10)));
}

/** Fills every missing (or undefined, as an unset env var gives) option with its default. */
export function resolveRealtimeOptions(given: Partial<RealtimeOptions> = {}): RealtimeOptions {
  const defined = Object.fromEntries(
    Object.entries(given).filter(([, value]) => value !== undefined),
  ) as Partial<RealtimeOptions>;
  const merged = { ...DEFAULT_REALTIME_OPTIONS, ...defined };
  return {
    ...merged,
    maxUnauthenticatedConnections:
      defined.maxUnauthenticatedConnections ?? defaultMaxUnauthenticated(merged.maxConnections),
  };
}
