import type { Registry } from "prom-client";
import type { RealtimeStats } from "../realtime/realtime-server.ts";
import { totalsMetrics } from "./totals-metrics.ts";

/** Where the WebSocket endpoint's numbers are read at scrape time (undefined until it is attached). */
export type RealtimeStatsSource = () => RealtimeStats | undefined;

/**
 * Exposes the `/ws` endpoint's counters and gauges, read from `stats()` at scrape time:
 * - gauges `<prefix>ws_connections`, `<prefix>ws_subscriptions`, `<prefix>ws_guilds`, `<prefix>ws_unauthenticated_connections`
 * - `<prefix>ws_pushed_total`, `<prefix>ws_updates_received_total`, `<prefix>ws_resync_pushes_total`
 * - `<prefix>ws_closed_total{reason="slow_consumer"|"bad_frames"|"heartbeat"|"auth_failure"|"auth_timeout"}`
 * - `<prefix>ws_upgrades_total{outcome="accepted"|"rejected"|"rejected_at_limit"}`, `<prefix>ws_error_frames_total`
 */
export function registerRealtimeMetrics(
  registry: Registry,
  read: RealtimeStatsSource,
  namePrefix = "spywatcher_",
): void {
  const { counter, gauge } = totalsMetrics(registry, namePrefix, read);

  gauge("ws_connections", "Open WebSocket connections on /ws", (s) => s.connections);
  gauge("ws_subscriptions", "(guild, socket) subscriptions on /ws", (s) => s.subscriptions);
  gauge("ws_guilds", "Guilds with at least one subscribed socket in this process", (s) => s.guilds);
  gauge(
    "ws_unauthenticated_connections",
    "Open /ws sockets still waiting for their auth message",
    (s) => s.unauthenticated,
  );
  counter("ws_pushed_total", "analytics:update frames sent", [], (s, set) => set({}, s.pushed));
  counter("ws_updates_received_total", "Analytics updates received from Redis pub/sub", [], (s, set) =>
    set({}, s.updatesReceived),
  );
  counter(
    "ws_notifications_total",
    "notification frames sent (to one user's sockets, or to admin sockets)",
    [],
    (s, set) => set({}, s.notificationsDelivered),
  );
  counter("ws_resync_pushes_total", "Resync pushes after the pub/sub connection came back", [], (s, set) =>
    set({}, s.resyncPushes),
  );
  counter("ws_error_frames_total", "error frames sent for bad, forbidden or over-limit messages", [], (s, set) =>
    set({}, s.errorFrames),
  );
  counter("ws_closed_total", "Sockets the server closed, by reason", ["reason"], (s, set) => {
    set({ reason: "slow_consumer" }, s.slowConsumerCloses);
    set({ reason: "bad_frames" }, s.badFrameCloses);
    set({ reason: "heartbeat" }, s.heartbeatTerminations);
    set({ reason: "auth_failure" }, s.authFailures);
    set({ reason: "auth_timeout" }, s.authTimeouts);
    set({ reason: "scope_reduced" }, s.scopeReducedCloses);
  });
  counter("ws_upgrades_total", "WebSocket upgrades, by outcome", ["outcome"], (s, set) => {
    set({ outcome: "accepted" }, s.accepted);
    set({ outcome: "rejected" }, s.rejectedUpgrades);
    set({ outcome: "rejected_at_limit" }, s.rejectedAtLimit);
  });
}
