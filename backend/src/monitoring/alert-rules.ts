import { BREAKER_STATE_VALUE } from "./cache-state-metrics.ts";
import type { AlertSample } from "./alert-sample.ts";

/** How urgent a rule is (the monitoring design's four levels): low is logged at info, medium and high at warn, critical at error. */
export type AlertSeverity = "low" | "medium" | "high" | "critical";

/** Every severity, least urgent first. */
export const ALERT_SEVERITIES: readonly AlertSeverity[] = ["low", "medium", "high", "critical"];

/** What a rule sees: the newest sample and the earlier ones still inside the window (counters are compared with them). */
export interface AlertSnapshot {
  current: AlertSample;
  /**
   * Earlier samples taken within the last `windowMs`, oldest first (empty on the first evaluation). A counter rule's
   * baseline is the oldest of them that has a reading for its counter, so one failed read does not blind the window.
   */
  earlier: AlertSample[];
  windowMs: number;
}

/** A rule's verdict on one snapshot; `value` is null when there is no number to show. */
export interface AlertEvaluation {
  firing: boolean;
  value: number | null;
  message: string;
  /**
   * True when the rule could not judge (a source did not answer, no baseline yet): the monitor then keeps the rule's
   * current state (a firing alert stays firing) instead of resolving it on missing data.
   */
  unknown?: true;
}

/** Every in-process rule's id; `buildAlertRules` returns them in this order and prometheus-alert-rules.ts needs one entry each. */
export const ALERT_RULE_IDS = [
  "cache_hit_rate_low",
  "cache_breaker_open",
  "redis_memory_high",
  "redis_evictions",
  "ingest_rows_lost",
  "ingest_buffer_high",
  "invalidation_errors",
  "postgres_unready",
  "redis_unready",
  "cache_p99_high",
  "cache_error_rate_high",
  "lock_failure_rate_high",
  "ws_slow_consumers",
] as const;

/** The id of an in-process alert rule. */
export type AlertRuleId = (typeof ALERT_RULE_IDS)[number];

/** One alert rule: a pure function of a snapshot plus how long its condition must hold before it fires. */
export interface AlertRule {
  id: string;
  severity: AlertSeverity;
  description: string;
  /** The number `value` is compared with (its direction is in the description). */
  threshold: number;
  /** How long the condition must hold before the alert fires (0: at once). */
  forMs: number;
  evaluate(snapshot: AlertSnapshot): AlertEvaluation;
}

/** One of the service's own rules (its id is one of ALERT_RULE_IDS). */
export interface ServiceAlertRule extends AlertRule {
  id: AlertRuleId;
}

/** The configurable thresholds (ALERT_* variables). */
export interface AlertThresholds {
  /** Hit rate (%) under which the cache alert fires (ALERT_CACHE_HIT_RATE_MIN, default 90). */
  cacheHitRateMinPercent: number;
  /** Lookups the window must hold before the hit rate is judged (ALERT_CACHE_HIT_RATE_MIN_LOOKUPS, default 100). */
  cacheHitRateMinLookups: number;
  /** used_memory as % of maxmemory above which Redis memory fires (ALERT_REDIS_MEMORY_MAX_PERCENT, default 80). */
  redisMemoryMaxPercent: number;
  /** Buffered rows as % of INGEST_MAX_BUFFERED_ROWS above which ingestion fires (ALERT_INGEST_BUFFER_MAX_PERCENT, default 80). */
  ingestBufferMaxPercent: number;
  /** Fleet p99 of the cache's Redis calls over the window above which `cache_p99_high` fires, in ms (ALERT_CACHE_P99_MAX_MS, default 500). */
  cacheP99MaxMs: number;
  /** Cache Redis errors per lookup (%) above which `cache_error_rate_high` fires (ALERT_ERROR_RATE_MAX_PERCENT, default 1). */
  errorRateMaxPercent: number;
  /** Lookups the window must hold before the error rate is judged (ALERT_ERROR_RATE_MIN_LOOKUPS, default 100). */
  errorRateMinLookups: number;
  /** Failed stampede lock acquisitions (%) above which `lock_failure_rate_high` fires (ALERT_LOCK_FAILURE_RATE_MAX_PERCENT, default 5). */
  lockFailureRateMaxPercent: number;
  /** Lock acquisitions the window must hold before the lock failure rate is judged (ALERT_LOCK_MIN_ATTEMPTS, default 20). */
  lockMinAttempts: number;
}

/** Defaults of `AlertThresholds`. */
export const DEFAULT_ALERT_THRESHOLDS: AlertThresholds = {
  cacheHitRateMinPercent: 90,
  cacheHitRateMinLookups: 100,
  redisMemoryMaxPercent: 80,
  ingestBufferMaxPercent: 80,
  cacheP99MaxMs: 500,
  errorRateMaxPercent: 1,
  errorRateMinLookups: 100,
  lockFailureRateMaxPercent: 5,
  lockMinAttempts: 20,
};

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

/** Every rule, with its severity, threshold and `for` duration; ops/prometheus-alerts.yml is generated from them (npm run alerts:generate). */
export function buildAlertRules(thresholds: AlertThresholds = DEFAULT_ALERT_THRESHOLDS): ServiceAlertRule[] {
  const t = thresholds;
  return [
    {
      id: "cache_hit_rate_low",
      severity: "medium",
      description: `Cache hit rate (hits + stale over lookups) below ${t.cacheHitRateMinPercent}% in the window, judged only with at least ${t.cacheHitRateMinLookups} lookups`,
      threshold: t.cacheHitRateMinPercent,
      forMs: 10 * MINUTE,
      evaluate: (s) => {
        const lookupsGrowth = increase(s, (x) => x.cache?.lookups);
        const hitsGrowth = increase(s, (x) => x.cache?.hits);
        if (lookupsGrowth === null || hitsGrowth === null) return unknown("no cache counters over a window yet");
        const lookups = lookupsGrowth.delta;
        const hits = hitsGrowth.delta;
        const rate = lookups === 0 ? null : round((hits / lookups) * 100);
        // An idle service has no meaningful hit rate: a handful of cold misses must not page anyone.
        if (lookups < t.cacheHitRateMinLookups)
          return {
            firing: false,
            value: rate,
            message: `${lookups} lookups in the window (< ${t.cacheHitRateMinLookups}): not judged`,
          };
        return {
          firing: rate! < t.cacheHitRateMinPercent,
          value: rate,
          message: `cache hit rate ${rate}% over ${lookups} lookups in the last ${span(lookupsGrowth.spanMs)} (minimum ${t.cacheHitRateMinPercent}%)`,
        };
      },
    },
    {
      id: "cache_breaker_open",
      severity: "critical",
      description:
        "The cache's circuit breaker in front of Redis is open or half-open: requests run their loaders without Redis",
      threshold: BREAKER_STATE_VALUE["half-open"],
      forMs: 30 * SECOND,
      evaluate: (s) => {
        const state = s.current.breakerState;
        if (state === null) return unknown("the breaker state is unknown");
        return {
          firing: state !== "closed",
          value: BREAKER_STATE_VALUE[state],
          message: `cache circuit breaker is ${state}`,
        };
      },
    },
    {
      id: "redis_memory_high",
      severity: "high",
      description: `Redis used_memory above ${t.redisMemoryMaxPercent}% of maxmemory on a master (only when maxmemory is set)`,
      threshold: t.redisMemoryMaxPercent,
      forMs: 5 * MINUTE,
      evaluate: (s) => {
        const redis = s.current.redis;
        if ("unknown" in redis) return unknown(`Redis memory unknown: ${redis.unknown}`);
        const bounded = redis.nodes.filter((node) => node.maxBytes > 0);
        // Known, not unknown: without maxmemory this rule cannot hold, so a firing alert resolves.
        if (bounded.length === 0) return { firing: false, value: null, message: "maxmemory is not set on any master" };
        const worst = bounded
          .map((node) => ({ node: node.node, percent: round((node.usedBytes / node.maxBytes) * 100) }))
          .sort((a, b) => b.percent - a.percent)[0]!;
        return {
          firing: worst.percent > t.redisMemoryMaxPercent,
          value: worst.percent,
          message: `Redis ${worst.node} uses ${worst.percent}% of maxmemory (maximum ${t.redisMemoryMaxPercent}%)`,
        };
      },
    },
    {
      id: "redis_evictions",
      severity: "medium",
      description:
        "Redis evicted keys in the window (server-wide INFO evicted_keys, increase per master, summed): memory is too small for the data",
      threshold: 0,
      forMs: 0,
      evaluate: (s) => {
        const growth = evictionsIncrease(s);
        if (growth === null) return unknown("keys evicted by Redis: no reading over a window yet");
        return {
          firing: growth.delta > 0,
          value: growth.delta,
          message: `${growth.delta} keys evicted by Redis in the last ${span(growth.spanMs)}`,
        };
      },
    },
    increasingRule(
      "ingest_rows_lost",
      "critical",
      "The ingestion writer dropped (buffer full) or PostgreSQL rejected rows in the window: Discord events were lost",
      (x) => (x.ingest ? x.ingest.dropped + x.ingest.rejected : undefined),
      "ingestion rows dropped or rejected",
    ),
    {
      id: "ingest_buffer_high",
      severity: "high",
      description: `The ingestion writer holds more than ${t.ingestBufferMaxPercent}% of INGEST_MAX_BUFFERED_ROWS: PostgreSQL is slow or down, rows are dropped when it is full`,
      threshold: t.ingestBufferMaxPercent,
      forMs: 1 * MINUTE,
      evaluate: (s) => {
        const ingest = s.current.ingest;
        if (!ingest) return unknown("the Discord side does not run");
        if (ingest.capacity <= 0) return unknown("the buffer bound is unknown");
        const percent = round((ingest.buffered / ingest.capacity) * 100);
        return {
          firing: percent > t.ingestBufferMaxPercent,
          value: percent,
          message: `ingestion buffer at ${percent}% (${ingest.buffered} of ${ingest.capacity} rows; maximum ${t.ingestBufferMaxPercent}%)`,
        };
      },
    },
    increasingRule(
      "invalidation_errors",
      "medium",
      "Cache invalidations or analytics-update publishes failed in the window (retried next window; dashboards may lag)",
      (x) => x.invalidationErrors,
      "invalidation errors",
    ),
    readinessRule(
      "postgres_unready",
      "postgres",
      "PostgreSQL fails its readiness check (SELECT 1): analytics and API-key lookups fail, ingestion buffers",
    ),
    readinessRule(
      "redis_unready",
      "redis",
      "Redis fails its readiness check (PING): the cache runs loaders directly, pub/sub and WebSocket pushes stop",
    ),
    {
      id: "cache_p99_high",
      severity: "medium",
      description: `Fleet p99 of the cache's Redis calls over the window above ${t.cacheP99MaxMs} ms`,
      threshold: t.cacheP99MaxMs,
      forMs: 5 * MINUTE,
      evaluate: (s) => {
        const p99 = s.current.cacheP99Ms;
        if (p99 === null || p99 === undefined) return unknown("no cache latency over a window yet");
        return {
          firing: p99 > t.cacheP99MaxMs,
          value: p99,
          message: `cache Redis p99 ${p99} ms over the window (maximum ${t.cacheP99MaxMs} ms)`,
        };
      },
    },
    rateRule(
      "cache_error_rate_high",
      "high",
      `Cache Redis errors per lookup above ${t.errorRateMaxPercent}% in the window, judged with at least ${t.errorRateMinLookups} lookups`,
      t.errorRateMaxPercent,
      t.errorRateMinLookups,
      (x) => x.cache?.errors,
      (x) => x.cache?.lookups,
      "cache error rate",
      "lookups",
    ),
    rateRule(
      "lock_failure_rate_high",
      "medium",
      `Stampede lock acquisitions failing (Redis error or timeout; contention is not a failure) above ${t.lockFailureRateMaxPercent}% in the window, judged with at least ${t.lockMinAttempts} attempts`,
      t.lockFailureRateMaxPercent,
      t.lockMinAttempts,
      (x) => x.locks?.failures,
      (x) => x.locks?.attempts,
      "lock failure rate",
      "acquisitions",
    ),
    increasingRule(
      "ws_slow_consumers",
      "low",
      "WebSocket sockets were closed as slow consumers (code 4429) in the window",
      (x) => x.wsSlowConsumerCloses,
      "slow WebSocket consumers closed",
    ),
  ];
}

/** A rule that fires while a counter increased within the window. */
function increasingRule(
  id: AlertRuleId,
  severity: AlertSeverity,
  description: string,
  read: (sample: AlertSample) => number | null | undefined,
  what: string,
): ServiceAlertRule {
  return {
    id,
    severity,
    description,
    threshold: 0,
    forMs: 0,
    evaluate: (s) => {
      const growth = increase(s, read);
      if (growth === null) return unknown(`${what}: no counter over a window yet`);
      return {
        firing: growth.delta > 0,
        value: growth.delta,
        message: `${growth.delta} ${what} in the last ${span(growth.spanMs)}`,
      };
    },
  };
}

/** A rule that fires while `part / whole` grew by more than `maxPercent` % over the window (with at least `minWhole`). */
function rateRule(
  id: AlertRuleId,
  severity: AlertSeverity,
  description: string,
  maxPercent: number,
  minWhole: number,
  part: (sample: AlertSample) => number | null | undefined,
  whole: (sample: AlertSample) => number | null | undefined,
  what: string,
  unit: string,
): ServiceAlertRule {
  return {
    id,
    severity,
    description,
    threshold: maxPercent,
    forMs: 5 * MINUTE,
    evaluate: (s) => {
      const wholeGrowth = increase(s, whole);
      const partGrowth = increase(s, part);
      if (wholeGrowth === null || partGrowth === null) return unknown(`${what}: no counters over a window yet`);
      const rate = wholeGrowth.delta === 0 ? null : round((partGrowth.delta / wholeGrowth.delta) * 100);
      if (wholeGrowth.delta < minWhole)
        return {
          firing: false,
          value: rate,
          message: `${wholeGrowth.delta} ${unit} in the window (< ${minWhole}): not judged`,
        };
      return {
        firing: rate! > maxPercent,
        value: rate,
        message: `${what} ${rate}% over ${wholeGrowth.delta} ${unit} in the last ${span(wholeGrowth.spanMs)} (maximum ${maxPercent}%)`,
      };
    },
  };
}

/** A rule that fires while a readiness check (GET /health/ready) fails; value 1 up, 0 down. */
function readinessRule(id: AlertRuleId, check: string, description: string): ServiceAlertRule {
  return {
    id,
    severity: "critical",
    description,
    threshold: 1,
    forMs: 30 * SECOND,
    evaluate: (s) => {
      const outcome = s.current.readiness.find((candidate) => candidate.name === check);
      if (!outcome) return unknown(`no ${check} readiness check`);
      return outcome.up
        ? { firing: false, value: 1, message: `${check} is ready` }
        : { firing: true, value: 0, message: `${check} readiness check fails: ${outcome.error ?? "down"}` };
    },
  };
}

/** How much a counter grew over the window, and over how long; null when there is no reading to compare. */
interface Growth {
  delta: number;
  spanMs: number;
}

/**
 * A counter's growth from the oldest earlier sample in the window that has a reading for it up to the current one.
 * A counter that went down was reset (a restarted process), so its current value is the growth.
 */
function increase(s: AlertSnapshot, read: (sample: AlertSample) => number | null | undefined): Growth | null {
  const now = read(s.current);
  if (now === null || now === undefined) return null;
  for (const older of s.earlier) {
    const before = read(older);
    if (before !== null && before !== undefined) return { delta: grown(before, now), spanMs: s.current.at - older.at };
  }
  return null;
}

/**
 * Evictions grown per master (each against its own oldest reading in the window), summed: a failover or one
 * master's restart resets only that master's counter, never counting the other masters' lifetime totals as new.
 * A master first seen in the current sample has no baseline yet and adds nothing.
 */
function evictionsIncrease(s: AlertSnapshot): Growth | null {
  const current = s.current.redis;
  if ("unknown" in current) return null;
  const growths = current.nodes.flatMap((node) => {
    const growth = increase(s, (x) =>
      "unknown" in x.redis ? undefined : x.redis.nodes.find((n) => n.node === node.node)?.evictedKeys,
    );
    return growth ? [growth] : [];
  });
  if (growths.length === 0) return null;
  return { delta: growths.reduce((sum, g) => sum + g.delta, 0), spanMs: Math.max(...growths.map((g) => g.spanMs)) };
}

function grown(before: number, now: number): number {
  return now >= before ? now - before : now;
}

function unknown(message: string): AlertEvaluation {
  return { firing: false, value: null, message, unknown: true };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function span(ms: number): string {
  return ms >= MINUTE ? `${round(ms / MINUTE)} min` : `${Math.round(ms / SECOND)} s`;
}
