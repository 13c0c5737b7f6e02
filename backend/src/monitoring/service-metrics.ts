import type { RequestObserver } from "../http/middleware/request-observers.ts";
import { collectDefaultMetrics, Registry } from "prom-client";
import type { CacheStatsSource } from "./alert-sample.ts";
import type { CacheStatsRecorder } from "../cache/stats/cache-stats-recorder.ts";
import { registerCacheMetrics } from "../cache/stats/prometheus-metrics.ts";
import { registerAlertMetrics } from "./alert-metrics.ts";
import type { AlertMonitor } from "./alert-monitor.ts";
import { registerCacheStateMetrics } from "./cache-state-metrics.ts";
import { registerDiscordSideMetrics, type DiscordSideStatsSource } from "./discord-side-metrics.ts";
import { httpRequestMetrics } from "./http-request-metrics.ts";
import { registerRealtimeMetrics, type RealtimeStatsSource } from "./realtime-metrics.ts";
import { registerSessionMetrics, type SessionCountsSource } from "./session-metrics.ts";

/** What one service's metrics are read from. */
export interface ServiceMetricsSources {
  /**
   * The cache's stats recorder (the one passed to `createCache`): lookups, errors, latency
   * (`spywatcher_cache_lookups_total` and co.). Omitted: those counters are left out, the cache's state is not.
   */
  cacheStats?: CacheStatsRecorder | undefined;
  /** The cache itself, for breaker, L1 and invalidation state (read in process with `getLocalStats()` when it has it). */
  cache: CacheStatsSource;
  /** The Discord side's `stats()` (bot, ingestion, invalidation); omit when it does not run. */
  discordStats?: DiscordSideStatsSource | undefined;
  /** The WebSocket endpoint's `stats()` (it may attach after the registry is built: undefined until then). */
  realtimeStats?: RealtimeStatsSource | undefined;
  /** The alert monitor: `spywatcher_alerts_firing` and the readings it takes (readiness, Redis memory; docs/alerts.md). */
  alerts?: Pick<AlertMonitor, "report" | "lastSample"> | undefined;
  /** Session counts of the last sweep (`spywatcher_sessions_active{scope}`, `spywatcher_session_users`). */
  sessionCounts?: SessionCountsSource | undefined;
  /** Also export prom-client's default process and Node.js metrics (default true). */
  processMetrics?: boolean;
}

/** A service's metrics: its own registry and the HTTP timing middleware that feeds it. */
export interface ServiceMetrics {
  registry: Registry;
  /** Times every request into `spywatcher_http_request_duration_seconds` (createApp's `requestMetrics`). */
  httpMetrics: RequestObserver;
}

/**
 * Builds one Prometheus registry for one service (never prom-client's global one, so tests can build several apps
 * in a process): default process metrics, the cache's counters and state, HTTP request durations and, when the
 * Discord side runs, its counters, and the alert monitor's state. Every value except the HTTP histogram is read from its source at scrape time.
 * Metric names are listed in docs/monitoring.md.
 */
export function createServiceMetrics(sources: ServiceMetricsSources): ServiceMetrics {
  const registry = new Registry();
  if (sources.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  if (sources.cacheStats) registerCacheMetrics(registry, sources.cacheStats);
  registerCacheStateMetrics(registry, sources.cache);
  if (sources.discordStats) registerDiscordSideMetrics(registry, sources.discordStats);
  if (sources.realtimeStats) registerRealtimeMetrics(registry, sources.realtimeStats);
  if (sources.alerts) registerAlertMetrics(registry, sources.alerts);
  if (sources.sessionCounts) registerSessionMetrics(registry, sources.sessionCounts);
  return { registry, httpMetrics: httpRequestMetrics(registry) };
}
