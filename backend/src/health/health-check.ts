/** How a check stands: `up`, `degraded` (works, but a threshold is crossed), or `down` (failed every attempt). */
export type HealthStatus = "up" | "degraded" | "down";

/** Retries of one check run: exponential backoff, delay `initialDelayMs * 2^(n-1)` capped at `maxDelayMs`. */
export interface RetryPolicy {
  /** Attempts in total, at least 1 (HEALTH_CHECK_ATTEMPTS, default 2). */
  attempts: number;
  /** Wait before the second attempt, in ms (HEALTH_RETRY_INITIAL_DELAY_MS, default 50). */
  initialDelayMs: number;
  /** Longest wait between two attempts, in ms (HEALTH_RETRY_MAX_DELAY_MS, default 500). */
  maxDelayMs: number;
}

/** What a check's probe may return: a degraded verdict and numbers worth showing (never secrets or addresses). */
export interface HealthProbe {
  /** Default "up". A probe that finds its dependency unusable throws instead. */
  status?: "up" | "degraded";
  /** Why it is degraded. */
  message?: string;
  details?: Record<string, unknown>;
}

/** One registered check: the probe plus how the registry runs it. */
export interface HealthCheckDefinition {
  /** Unique name shown in /health/ready (e.g. "redis"). */
  name: string;
  /** What it is about: "infrastructure", "process", "application" or "composite". */
  group: string;
  /** Bound of one attempt, in ms (HEALTH_CHECK_TIMEOUT_MS). */
  timeoutMs: number;
  retry: RetryPolicy;
  /** How long a result is reused before the probe runs again, in ms (HEALTH_CACHE_TTL_MS; 0: never reused). */
  cacheTtlMs: number;
  /** Higher runs and lists first (infrastructure 100, process 50, application 30, composite 10). */
  priority: number;
  /** When true and down, GET /health/ready answers 503 (HEALTH_CRITICAL_CHECKS). */
  critical: boolean;
  /** Resolves when healthy (or degraded); throws or rejects when down. */
  probe(): Promise<HealthProbe | void>;
}

/** The outcome of one check, as the registry keeps and shows it. */
export interface HealthCheckResult {
  name: string;
  group: string;
  critical: boolean;
  priority: number;
  status: HealthStatus;
  /** Time of the last attempt's probe, in ms. */
  latencyMs: number;
  /** Attempts made (1 when the first succeeded). */
  attempts: number;
  /** ISO time the result was produced. */
  checkedAt: string;
  /** How old the (possibly cached) result is, in ms. */
  ageMs: number;
  /** True when this answer reused a result younger than the check's cacheTtlMs. */
  cached: boolean;
  /** Why it is down or degraded. */
  error?: string;
  details?: Record<string, unknown>;
}

/** The registry's verdict: `unavailable` when a critical check is down, `degraded` when any other is not up. */
export interface HealthSummary {
  status: "ready" | "degraded" | "unavailable";
  /** Critical checks that are down (the reason for a 503). */
  failing: string[];
  /** Non-critical checks that are down or degraded. */
  degraded: string[];
  /** Every check, highest priority first. */
  checks: HealthCheckResult[];
}
