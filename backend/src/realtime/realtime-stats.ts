/** Counters of the `/ws` endpoint since start (gauges are read live by `RealtimeServer.stats()`). */
export interface RealtimeCounters {
  /** Sockets accepted (upgrade completed). */
  accepted: number;
  /** Upgrades refused: bad or missing path, bad key in the header (401), auth unavailable or at the connection bound (503). */
  rejectedUpgrades: number;
  /** Upgrades refused with E_LIMIT: `maxConnections` sockets open, or (without an Authorization header) `maxUnauthenticatedConnections` waiting for auth. */
  rejectedAtLimit: number;
  /** Sockets closed because their `auth` message carried an unknown key, or their key was revoked while connected. */
  authFailures: number;
  /** Sockets closed with 4403 because their session's guild scope shrank at a scope refresh. */
  scopeReducedCloses: number;
  /** Sockets closed because no `auth` message came within the auth timeout. */
  authTimeouts: number;
  /** `analytics:update` frames sent. */
  pushed: number;
  /** Updates received from pub/sub (each fanned out to the guild's local sockets). */
  updatesReceived: number;
  /** Sockets closed because their unsent bytes passed `maxBufferedBytes` (the push or answer that found them so was skipped). */
  slowConsumerCloses: number;
  /** Sockets closed with 1008 after `maxConsecutiveBadFrames` frames in a row were answered with an error frame. */
  badFrameCloses: number;
  /** Sockets terminated because they did not answer a ping within one heartbeat interval. */
  heartbeatTerminations: number;
  /** `error` frames sent in answer to bad, forbidden or over-limit messages. */
  errorFrames: number;
  /** Resync pushes sent after the pub/sub connection came back (updates may have been missed during the outage). */
  resyncPushes: number;
  /** `notification` frames sent (to the recipient user's sockets, or to admin sockets). */
  notificationsDelivered: number;
}

/** Fresh zeroed counters. */
export function createRealtimeCounters(): RealtimeCounters {
  return {
    accepted: 0,
    rejectedUpgrades: 0,
    rejectedAtLimit: 0,
    authFailures: 0,
    scopeReducedCloses: 0,
    authTimeouts: 0,
    pushed: 0,
    updatesReceived: 0,
    slowConsumerCloses: 0,
    badFrameCloses: 0,
    notificationsDelivered: 0,
    heartbeatTerminations: 0,
    errorFrames: 0,
    resyncPushes: 0,
  };
}
