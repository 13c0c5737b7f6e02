import {
  buildAlertRules,
  DEFAULT_ALERT_THRESHOLDS,
  type AlertRuleId,
  type AlertSeverity,
  type AlertThresholds,
} from "./alert-rules.ts";

/** The Prometheus side of one rule: its alert name, PromQL expression, summary template and an optional comment. */
interface PrometheusExpression {
  alert: `Spywatcher${string}`;
  expr: string;
  summary: string;
  /** Written above the rule in the generated file (why the expression has its shape). */
  comment?: string;
}

/** A Prometheus-only rule: something the in-process monitor cannot report about itself. */
interface PrometheusOnlyRule extends PrometheusExpression {
  id: string;
  severity: AlertSeverity;
  forMs: number;
}

/** One rule of the generated file, whichever side it comes from. */
export interface PrometheusAlertRule extends PrometheusOnlyRule {}

/** `increase(...)` window of the counter rules: the default ALERT_WINDOW_MS (5 min). */
const WINDOW = "5m";

/** Ratio of two per-instance counter increases, judged only over a floor of the denominator. */
function ratioOver(part: string, whole: string, comparison: string, minWhole: number): string {
  const sum = (series: string) => `sum by (job, instance) (increase(${series}[${WINDOW}]))`;
  return `(\n  ${sum(part)}\n  / ${sum(whole)}\n) * 100 ${comparison}\nand on (job, instance)\n${sum(whole)} >= ${minWhole}\n`;
}

/**
 * The PromQL of every in-process rule, keyed by its id: the compiler refuses a rule without one. Thresholds are the
 * ALERT_* defaults (`DEFAULT_ALERT_THRESHOLDS`); severity and `for` come from the rule itself.
 */
function expressions(t: AlertThresholds) {
  return {
    cache_hit_rate_low: {
      alert: "SpywatcherCacheHitRateLow",
      expr: ratioOver(
        'spywatcher_cache_lookups_total{outcome=~"hit_l1|hit_l2|stale"}',
        "spywatcher_cache_lookups_total",
        `< ${t.cacheHitRateMinPercent}`,
        t.cacheHitRateMinLookups,
      ),
      summary: `Cache hit rate {{ $value | printf "%.1f" }}% on {{ $labels.instance }} (minimum ${t.cacheHitRateMinPercent}%)`,
    },
    cache_breaker_open: {
      alert: "SpywatcherCacheBreakerOpen",
      expr: "spywatcher_cache_breaker_state >= 1",
      summary: "Cache circuit breaker open or half-open on {{ $labels.instance }}: requests run without Redis",
    },
    redis_memory_high: {
      alert: "SpywatcherRedisMemoryHigh",
      expr: `max by (job, node) (spywatcher_redis_memory_used_bytes / (spywatcher_redis_memory_max_bytes > 0)) * 100 > ${t.redisMemoryMaxPercent}`,
      summary: `Redis {{ $labels.node }} uses {{ $value | printf "%.1f" }}% of maxmemory (maximum ${t.redisMemoryMaxPercent}%)`,
    },
    redis_evictions: {
      alert: "SpywatcherRedisEvictions",
      expr: `sum by (job) (max by (job, node) (increase(spywatcher_redis_evicted_keys_total[${WINDOW}]))) > 0`,
      summary: 'Redis evicted {{ $value | printf "%.0f" }} keys in 5 minutes',
      comment:
        "Increase per master first (a restarted master resets only its own series; a failover starts a new node\nseries), deduplicated over the instances that report it, then summed over masters.",
    },
    ingest_rows_lost: {
      alert: "SpywatcherIngestRowsLost",
      expr: `sum by (job, instance) (increase(spywatcher_ingest_rows_total{outcome=~"dropped|rejected"}[${WINDOW}])) > 0`,
      summary:
        '{{ $value | printf "%.0f" }} Discord event rows dropped or rejected in 5 minutes on {{ $labels.instance }}',
    },
    ingest_buffer_high: {
      alert: "SpywatcherIngestBufferHigh",
      expr: `spywatcher_ingest_buffered_rows / (spywatcher_ingest_buffer_capacity_rows > 0) * 100 > ${t.ingestBufferMaxPercent}`,
      summary: `Ingestion buffer {{ $value | printf "%.0f" }}% full on {{ $labels.instance }} (maximum ${t.ingestBufferMaxPercent}%)`,
    },
    invalidation_errors: {
      alert: "SpywatcherInvalidationErrors",
      expr: `increase(spywatcher_invalidation_errors_total[${WINDOW}]) > 0`,
      summary:
        '{{ $value | printf "%.0f" }} cache invalidation or publish errors in 5 minutes on {{ $labels.instance }}',
    },
    postgres_unready: {
      alert: "SpywatcherPostgresUnready",
      expr: 'spywatcher_readiness_check_up{check="postgres"} == 0',
      summary: "PostgreSQL fails its readiness check on {{ $labels.instance }}",
    },
    redis_unready: {
      alert: "SpywatcherRedisUnready",
      expr: 'spywatcher_readiness_check_up{check="redis"} == 0',
      summary: "Redis fails its readiness check on {{ $labels.instance }}",
    },
    cache_p99_high: {
      alert: "SpywatcherCacheLatencyHigh",
      expr: `histogram_quantile(0.99, sum by (job, le) (rate(cache_operation_latency_seconds_bucket{source="redis"}[${WINDOW}]))) * 1000 > ${t.cacheP99MaxMs}`,
      summary: `Cache Redis p99 {{ $value | printf "%.0f" }} ms over 5 minutes across the fleet (maximum ${t.cacheP99MaxMs} ms)`,
      comment:
        "The fleet p99 over the window, from every instance's histogram buckets summed (as the in-process rule reads\nthe fleet's merged histograms in Redis); bucket bounds double, so the p99 is interpolated within a factor 2.",
    },
    cache_error_rate_high: {
      alert: "SpywatcherCacheErrorRateHigh",
      expr: ratioOver(
        "spywatcher_cache_errors_total",
        "spywatcher_cache_lookups_total",
        `> ${t.errorRateMaxPercent}`,
        t.errorRateMinLookups,
      ),
      summary: `Cache Redis errors {{ $value | printf "%.2f" }}% of lookups on {{ $labels.instance }} (maximum ${t.errorRateMaxPercent}%)`,
    },
    lock_failure_rate_high: {
      alert: "SpywatcherLockFailureRateHigh",
      expr: ratioOver(
        'spywatcher_cache_lock_acquisitions_total{outcome="failed"}',
        "spywatcher_cache_lock_acquisitions_total",
        `> ${t.lockFailureRateMaxPercent}`,
        t.lockMinAttempts,
      ),
      summary: `Stampede lock acquisitions failing {{ $value | printf "%.1f" }}% on {{ $labels.instance }} (maximum ${t.lockFailureRateMaxPercent}%)`,
    },
    ws_slow_consumers: {
      alert: "SpywatcherWebSocketSlowConsumers",
      expr: `increase(spywatcher_ws_closed_total{reason="slow_consumer"}[${WINDOW}]) > 0`,
      summary:
        '{{ $value | printf "%.0f" }} WebSocket sockets closed as slow consumers in 5 minutes on {{ $labels.instance }}',
    },
  } satisfies Record<AlertRuleId, PrometheusExpression>;
}

/** Rules only Prometheus can evaluate (the monitor cannot report that it stopped). */
const PROMETHEUS_ONLY_RULES: PrometheusOnlyRule[] = [
  {
    id: "alert_monitor_stale",
    severity: "medium",
    forMs: 60_000,
    alert: "SpywatcherAlertMonitorStale",
    expr: "time() - spywatcher_alert_last_evaluation_timestamp_seconds > 120",
    summary:
      'The in-process alert monitor of {{ $labels.instance }} has not evaluated for {{ $value | printf "%.0f" }} s',
    comment:
      "Prometheus only: the in-process monitor cannot report that it stopped evaluating. 120 s assumes\nALERT_EVAL_INTERVAL_MS well under 120 s (default 15 s); raise it with a longer interval.",
  },
];

/** Every rule of ops/prometheus-alerts.yml: the in-process rules (defaults of ALERT_*) then the Prometheus-only ones. */
export function prometheusAlertRules(thresholds: AlertThresholds = DEFAULT_ALERT_THRESHOLDS): PrometheusAlertRule[] {
  const byId = expressions(thresholds);
  const inProcess = buildAlertRules(thresholds).map((rule) => ({
    id: rule.id,
    severity: rule.severity,
    forMs: rule.forMs,
    ...byId[rule.id],
  }));
  return [...inProcess, ...PROMETHEUS_ONLY_RULES];
}
