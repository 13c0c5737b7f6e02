/** Limits and timings of the `/ws` endpoint (env var in brackets). */
export interface RealtimeOptions {
  /** Path of the endpoint on the HTTP server (default "/ws"). */
  path: string;
  /** Open sockets at most; an upgrade beyond it gets HTTP 503 (WS_MAX_CONNECTIONS, default 1,000). */
  maxConnections: number;
  /** Guilds one socket may subscribe to; beyond it the subscribe gets an E_LIMIT error frame (WS_MAX_SUBSCRIPTIONS, default 50). */
  maxSubscriptionsPerSocket: number;
  /** Time a socket opened without an Authorization header has to send its `auth` message (WS_AUTH_TIMEOUT_MS, default 5,000). */
  authTimeoutMs: number;
  /** Ping interval; a socket that has not answered the previous ping is terminated (WS_HEARTBEAT_INTERVAL_MS, default 30,000). */
  heartbeatIntervalMs: number;
  /** Unsent bytes a socket may hold before it is closed as a slow consumer (WS_MAX_BUFFERED_BYTES, default 1 MiB). */
  maxBufferedBytes: number;
  /** Largest frame a client may send; a bigger one closes the socket with 1009 (default 4 KiB). */
  maxPayloadBytes: number;
  /** Time `close()` waits for sockets to finish their closing handshake before terminating them (default 2,000). */
  closeTimeoutMs: number;
}

/** The defaults of every option. */
export const DEFAULT_REALTIME_OPTIONS: RealtimeOptions = {
  path: "/ws",
  maxConnections: 1_000,
  maxSubscriptionsPerSocket: 50,
  authTimeoutMs: 5_000,
  heartbeatIntervalMs: 30_000,
  maxBufferedBytes: 1024 * 1024,
  maxPayloadBytes: 4 * 1024,
  closeTimeoutMs: 2_000,
};
