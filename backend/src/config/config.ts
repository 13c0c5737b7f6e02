import { hostname } from "node:os";
import { z } from "zod";
import { ACTIVITY_DEFAULTS } from "../activity/activity-recorder.ts";
import { API_KEY_DEFAULTS } from "../auth/api-key-service.ts";
import { CACHE_DEFAULTS } from "../cache/cache-defaults.ts";
import { CACHE_STATS_DEFAULTS } from "../cache/stats/fleet-stats-store.ts";
import { PRISMA_CLIENT_DEFAULTS } from "../db/prisma-client.ts";
import { ALERT_MONITOR_DEFAULTS } from "../monitoring/alert-monitor.ts";
import { ALERT_WEBHOOK_DEFAULTS } from "../monitoring/alert-webhook.ts";
import { REDIS_CONNECTION_DEFAULTS } from "../redis/redis-connections.ts";
import { parseDuration } from "../cache/duration.ts";
import { circuitBreakerDefaults } from "../cache/transport/circuit-breaker.ts";
import { INGESTION_WRITER_DEFAULTS } from "../ingest/ingestion-writer-options.ts";
import { INVALIDATION_DEFAULTS } from "../invalidation/cache-invalidation-service.ts";
import { DEFAULT_ALERT_THRESHOLDS } from "../monitoring/alert-rules.ts";
import { defaultHealthDiskDir, SERVICE_CHECK_NAMES } from "../health/health-defaults.ts";

/** Parses "true"/"false"/"1"/"0" environment strings into booleans. */
const booleanFromEnv = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((value) => value === "true" || value === "1" || value === "yes");

const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().nonnegative();

/** A cache duration: seconds ("300", as the cache API and Redis EX) or with a unit ("500ms", "30s", "5m", "1h", "1d"); parsed to ms. */
const duration = z.string().transform((value, context) => {
  try {
    return parseDuration(/^\d+(\.\d+)?$/.test(value) ? Number(value) : (value as `${number}s`));
  } catch {
    context.addIssue({
      code: "custom",
      message: 'must be seconds ("300") or a duration such as "500ms", "30s", "5m", "1h"',
    });
    return z.NEVER;
  }
});

const postgresUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === "postgresql:" || url.protocol === "postgres:") && url.pathname.length > 1;
  } catch {
    return false;
  }
}, "must be a postgresql://user@host:port/database URL");

const redisUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === "redis:" || url.protocol === "rediss:";
  } catch {
    return false;
  }
}, "must be a redis://host:port/db URL");

const clusterNodes = z
  .string()
  .transform((value) =>
    value
      .split(",")
      .map((node) => node.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, "each node must be host:port"))
      .min(1, "must list at least one host:port"),
  );

/**
 * The environment this service reads, with its defaults. Every variable is documented in `.env.example`
 * and in the README's configuration table; keep the three in step.
 */
export const environmentSchema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  HOST: z.string().min(1).default("0.0.0.0"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3001),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  LOG_PRETTY: booleanFromEnv.default(false),

  DATABASE_URL: postgresUrl.default("postgresql://postgres@127.0.0.1:5432/spywatcher"),
  DATABASE_POOL_MAX: positiveInt.default(PRISMA_CLIENT_DEFAULTS.poolMax),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.default(PRISMA_CLIENT_DEFAULTS.statementTimeoutMs),
  DATABASE_CONNECT_TIMEOUT_MS: positiveInt.default(PRISMA_CLIENT_DEFAULTS.connectionTimeoutMs),
  DATABASE_QUERY_TIMEOUT_MS: positiveInt.optional(),
  DATABASE_KEEPALIVE_DELAY_MS: positiveInt.default(PRISMA_CLIENT_DEFAULTS.keepAliveDelayMs),
  ANALYTICS_MAX_CONCURRENT_QUERIES: positiveInt.optional(),
  ANALYTICS_MAX_QUEUED_QUERIES: nonNegativeInt.optional(),
  ANALYTICS_STALE_IF_ERROR_MS: nonNegativeInt.default(6 * 3_600_000),
  MIGRATE_ON_START: booleanFromEnv.default(true),

  REDIS_URL: redisUrl.default("redis://127.0.0.1:6379/0"),
  REDIS_CLUSTER_NODES: clusterNodes.optional(),
  REDIS_PROTOCOL: z.coerce
    .number()
    .pipe(z.union([z.literal(2), z.literal(3)]))
    .default(REDIS_CONNECTION_DEFAULTS.protocol),
  REDIS_CONNECT_TIMEOUT_MS: positiveInt.default(REDIS_CONNECTION_DEFAULTS.connectTimeoutMs),
  REDIS_COMMAND_TIMEOUT_MS: positiveInt.default(REDIS_CONNECTION_DEFAULTS.commandTimeoutMs),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_TLS: booleanFromEnv.default(false),
  ENABLE_REDIS_RATE_LIMITING: booleanFromEnv.default(true),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, "must be 1-32 letters, digits, '_' or '-'")
    .default("spywatcher"),

  CACHE_VERSION: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,16}$/, "must be 1-16 letters, digits, '_' or '-'")
    .default(CACHE_DEFAULTS.version),
  CACHE_DEFAULT_TTL: duration.default(CACHE_DEFAULTS.defaultTtlMs),
  CACHE_GRACE: duration.default(CACHE_DEFAULTS.graceMs),
  CACHE_STALE_WHILE_REVALIDATE: booleanFromEnv.default(CACHE_DEFAULTS.staleWhileRevalidate),
  CACHE_REFRESH_AHEAD_AT: z.coerce.number().min(0).max(1).default(CACHE_DEFAULTS.refreshAheadAt),
  CACHE_SOFT_TIMEOUT: duration.optional(),
  CACHE_HARD_TIMEOUT: duration.optional(),
  CACHE_COMPRESS_ABOVE_BYTES: positiveInt.optional(),
  // On in the service, unlike a cache built on its own (see CACHE_DEFAULTS).
  CACHE_L1_ENABLED: booleanFromEnv.default(true),
  CACHE_L1_MAX_ENTRIES: positiveInt.default(CACHE_DEFAULTS.l1MaxEntries),
  CACHE_L1_MAX_BYTES: positiveInt.default(CACHE_DEFAULTS.l1MaxBytes),
  CACHE_INVALIDATION_WINDOW_MS: positiveInt.default(CACHE_DEFAULTS.invalidationWindowMs),
  CACHE_SOFT_INVALIDATION_STALE_MS: positiveInt.default(CACHE_DEFAULTS.softInvalidationStaleMs),
  CACHE_LOCK_WAIT_MS: positiveInt.default(CACHE_DEFAULTS.lockWaitMs),
  CACHE_LOCK_TTL_MS: positiveInt.default(CACHE_DEFAULTS.lockTtlMs),
  CACHE_CB_FAILURE_THRESHOLD: positiveInt.default(circuitBreakerDefaults.failureThreshold),
  CACHE_CB_RECOVERY_TIMEOUT: positiveInt.default(circuitBreakerDefaults.recoveryTimeoutMs),
  CACHE_CB_MIN_RECOVERY_TIMEOUT: positiveInt.default(circuitBreakerDefaults.minRecoveryTimeoutMs),
  CACHE_CB_HALF_OPEN_MAX_CALLS: positiveInt.default(circuitBreakerDefaults.halfOpenMaxCalls),
  CACHE_STATS_FLUSH_INTERVAL_MS: positiveInt.default(CACHE_STATS_DEFAULTS.flushIntervalMs),
  CACHE_STATS_WINDOW_MS: positiveInt.default(CACHE_STATS_DEFAULTS.windowMs),
  CACHE_STATS_RETENTION_MS: positiveInt.default(CACHE_STATS_DEFAULTS.retentionMs),
  CACHE_MEMORY_LIMIT_BYTES: positiveInt.default(2 * 1024 ** 3),

  DISCORD_ENABLED: booleanFromEnv.default(true),
  DISCORD_TOKEN: z.string().min(1).optional(),
  SPYWATCHER_DEMO: booleanFromEnv.optional(),
  DISCORD_API_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).default("https://discord.com/api"),
  DISCORD_READ_MESSAGE_CONTENT: booleanFromEnv.default(false),
  SIMULATION_EVENTS_PER_SECOND: z.coerce.number().min(0).max(100_000).default(20),
  INGEST_BATCH_SIZE: positiveInt.default(INGESTION_WRITER_DEFAULTS.batchSize),
  INGEST_FLUSH_INTERVAL_MS: positiveInt.default(INGESTION_WRITER_DEFAULTS.flushIntervalMs),
  INGEST_MAX_BUFFERED_ROWS: positiveInt.default(INGESTION_WRITER_DEFAULTS.maxBufferedRows),
  INGEST_RETRY_BASE_MS: positiveInt.default(INGESTION_WRITER_DEFAULTS.retryBaseMs),
  INGEST_RETRY_MAX_MS: positiveInt.default(INGESTION_WRITER_DEFAULTS.retryMaxMs),
  INGEST_CLOSE_TIMEOUT_MS: positiveInt.default(INGESTION_WRITER_DEFAULTS.closeTimeoutMs),
  INGEST_SPILL_DIR: z.string().min(1).default("data/ingest-spill"),
  INVALIDATION_COALESCE_MS: positiveInt.default(INVALIDATION_DEFAULTS.coalesceMs),
  INVALIDATION_MODE: z.enum(["soft", "hard"]).default(INVALIDATION_DEFAULTS.mode),
  ACTIVITY_ENABLED: booleanFromEnv.default(true),
  ACTIVITY_FLUSH_INTERVAL_MS: positiveInt.default(ACTIVITY_DEFAULTS.flushIntervalMs),
  ACTIVITY_TYPING_TTL_MS: positiveInt.default(ACTIVITY_DEFAULTS.typingTtlMs),
  ACTIVITY_LIVE_PUSH_INTERVAL_MS: positiveInt.default(ACTIVITY_DEFAULTS.livePushIntervalMs),
  ACTIVITY_RETENTION_INTERVAL_MS: nonNegativeInt.default(3_600_000),

  HEALTH_CHECK_TIMEOUT_MS: positiveInt.default(1_000),
  HEALTH_CACHE_TTL_MS: nonNegativeInt.default(1_000),
  HEALTH_CHECK_ATTEMPTS: positiveInt.max(10).default(2),
  HEALTH_RETRY_INITIAL_DELAY_MS: nonNegativeInt.default(50),
  HEALTH_RETRY_MAX_DELAY_MS: nonNegativeInt.default(500),
  HEALTH_CRITICAL_CHECKS: z
    .string()
    .transform((value) =>
      value
        .split(",")
        .map((name) => name.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(SERVICE_CHECK_NAMES, { error: `each must be one of ${SERVICE_CHECK_NAMES.join(", ")}` })))
    .default(["redis", "postgres"]),
  HEALTH_MEMORY_RSS_MAX_MB: positiveInt.default(2_048),
  HEALTH_MEMORY_HEAP_MAX_PERCENT: z.coerce.number().positive().max(100).default(90),
  HEALTH_DISK_DIR: z.string().min(1).optional(),
  HEALTH_EVENT_LOOP_DELAY_MAX_MS: positiveInt.default(200),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  ADMIN_API_KEY: z.string().min(24, "must be at least 24 characters").optional(),
  AUTH_LOOKUP_TIMEOUT_MS: positiveInt.default(API_KEY_DEFAULTS.lookupTimeoutMs),
  AUTH_STALE_IF_ERROR_MS: nonNegativeInt.default(API_KEY_DEFAULTS.staleIfErrorMs),
  AUTH_FAILURES_PER_MINUTE: nonNegativeInt.default(API_KEY_DEFAULTS.failedAuthPerMinute),
  AUTH_MAX_NEW_KEY_LOOKUPS: positiveInt.optional(),
  DISCORD_CLIENT_ID: z
    .string()
    .regex(/^\S{1,100}$/, "must be the application's client id")
    .optional(),
  DISCORD_CLIENT_SECRET: z.string().min(1).optional(),
  DISCORD_REDIRECT_URI: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL ending in /auth/discord/callback" })
    .optional(),
  DISCORD_OAUTH_AUTHORIZE_URL: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .default("https://discord.com/oauth2/authorize"),
  DISCORD_OAUTH_TIMEOUT_MS: positiveInt.default(5_000),
  SESSION_SECRET: z.string().min(32, "must be at least 32 characters (e.g. openssl rand -base64 48)").optional(),
  SESSION_TTL: duration.default(24 * 3_600_000),
  SESSION_MAX_AGE: duration.default(7 * 86_400_000),
  SESSION_SCOPE_REFRESH_INTERVAL: duration.default(10 * 60_000),
  SESSION_STALE_IF_ERROR: duration.default(5 * 60_000),
  SESSION_SWEEP_INTERVAL: duration.default(60_000),
  OAUTH_STATE_TTL: duration.default(10 * 60_000),
  AUTH_ADMIN_USER_IDS: z
    .string()
    .transform((value) =>
      value
        .split(",")
        .map((id) => id.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^\d{17,20}$/, "each must be a Discord user id (17-20 digits)")))
    .default([]),
  AUTH_SUCCESS_REDIRECT: z
    .string()
    .refine(
      (value) => (value.startsWith("/") && !value.startsWith("//")) || /^https?:\/\//.test(value),
      "must be a path (/dashboard) or an http(s) URL",
    )
    .default("/auth/me"),
  METRICS_TOKEN: z
    .string()
    .min(16, "must be at least 16 characters")
    .regex(/^\S+$/, "must not contain spaces (it is sent as 'Authorization: Bearer <token>')")
    .optional(),
  TRUST_PROXY: booleanFromEnv.default(false),
  RATE_LIMIT_PER_MINUTE: nonNegativeInt.default(600),
  HTTP_SLOW_REQUEST_MS: nonNegativeInt.default(1_000),
  HTTP_LOG_SAMPLE_RATE: z.coerce
    .number()
    .min(0, "must be between 0 and 1")
    .max(1, "must be between 0 and 1")
    .default(0),
  WS_MAX_CONNECTIONS: positiveInt.default(1_000),
  WS_MAX_SUBSCRIPTIONS: positiveInt.default(50),
  WS_AUTH_TIMEOUT_MS: positiveInt.default(5_000),
  WS_HEARTBEAT_INTERVAL_MS: positiveInt.default(30_000),
  WS_MAX_BUFFERED_BYTES: positiveInt.default(1_048_576),
  WS_MAX_UNAUTHENTICATED_CONNECTIONS: positiveInt.optional(),

  ALERT_EVAL_INTERVAL_MS: positiveInt.default(ALERT_MONITOR_DEFAULTS.intervalMs),
  ALERT_WINDOW_MS: positiveInt.default(ALERT_MONITOR_DEFAULTS.windowMs),
  ALERT_CACHE_HIT_RATE_MIN: z.coerce.number().min(0).max(100).default(DEFAULT_ALERT_THRESHOLDS.cacheHitRateMinPercent),
  ALERT_CACHE_HIT_RATE_MIN_LOOKUPS: positiveInt.default(DEFAULT_ALERT_THRESHOLDS.cacheHitRateMinLookups),
  ALERT_REDIS_MEMORY_MAX_PERCENT: z.coerce
    .number()
    .positive()
    .max(100)
    .default(DEFAULT_ALERT_THRESHOLDS.redisMemoryMaxPercent),
  ALERT_INGEST_BUFFER_MAX_PERCENT: z.coerce
    .number()
    .positive()
    .max(100)
    .default(DEFAULT_ALERT_THRESHOLDS.ingestBufferMaxPercent),
  ALERT_CACHE_P99_MAX_MS: positiveInt.default(DEFAULT_ALERT_THRESHOLDS.cacheP99MaxMs),
  ALERT_ERROR_RATE_MAX_PERCENT: z.coerce
    .number()
    .positive()
    .max(100)
    .default(DEFAULT_ALERT_THRESHOLDS.errorRateMaxPercent),
  ALERT_ERROR_RATE_MIN_LOOKUPS: positiveInt.default(DEFAULT_ALERT_THRESHOLDS.errorRateMinLookups),
  ALERT_LOCK_FAILURE_RATE_MAX_PERCENT: z.coerce
    .number()
    .positive()
    .max(100)
    .default(DEFAULT_ALERT_THRESHOLDS.lockFailureRateMaxPercent),
  ALERT_LOCK_MIN_ATTEMPTS: positiveInt.default(DEFAULT_ALERT_THRESHOLDS.lockMinAttempts),
  ALERT_HISTORY_MAX_ENTRIES: positiveInt.default(1_000),
  INVALIDATION_LOG_MAX_ENTRIES: positiveInt.default(10_000),
  CLEANUP_INTERVAL_MS: nonNegativeInt.default(300_000),
  CLEANUP_MAX_KEYS_PER_RUN: positiveInt.default(5_000),
  HEALTH_SCORE_WINDOW_MS: positiveInt.default(300_000),
  HEALTH_SCORE_TARGET_RESPONSE_MS: positiveInt.default(200),
  ALERT_WEBHOOK_URL: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .refine((value) => {
      const url = new URL(value);
      return url.username === "" && url.password === "";
    }, "must not carry credentials (user:pass@): put a token in its path or query instead")
    .optional(),
  ALERT_WEBHOOK_TIMEOUT_MS: positiveInt.default(ALERT_WEBHOOK_DEFAULTS.timeoutMs),
  ALERT_WEBHOOK_RETRIES: nonNegativeInt.max(10).default(ALERT_WEBHOOK_DEFAULTS.retries),
  ALERT_WEBHOOK_REPEAT_MS: positiveInt.default(ALERT_MONITOR_DEFAULTS.repeatMs),
  ALERT_INSTANCE: z
    .string()
    .regex(/^\S{1,200}$/, "must be 1-200 characters without spaces")
    .optional(),
});

export type Environment = z.infer<typeof environmentSchema>;

/**
 * Demo mode (the simulated guild) is explicit: SPYWATCHER_DEMO, else on when there is no token outside production;
 * never a silent fallback of a production instance that lost its token.
 */
function isDemo(e: Environment): boolean {
  return e.SPYWATCHER_DEMO ?? (!e.DISCORD_TOKEN && e.NODE_ENV !== "production");
}

/** Rules across variables; the first one broken is reported under the variable to change. */
function checkCrossVariableRules(e: Environment, context: z.RefinementCtx): void {
  const fail = (variable: string, message: string) =>
    context.addIssue({ code: "custom", path: [variable], message, input: e });
  if (e.ALERT_WINDOW_MS < 2 * e.ALERT_EVAL_INTERVAL_MS) {
    // With fewer than two evaluations per window a counter rule would never have a baseline to compare with.
    fail("ALERT_WINDOW_MS", `must be at least 2 x ALERT_EVAL_INTERVAL_MS (${2 * e.ALERT_EVAL_INTERVAL_MS})`);
    return;
  }
  if (e.CACHE_CB_MIN_RECOVERY_TIMEOUT > e.CACHE_CB_RECOVERY_TIMEOUT) {
    fail("CACHE_CB_MIN_RECOVERY_TIMEOUT", `must be at most CACHE_CB_RECOVERY_TIMEOUT (${e.CACHE_CB_RECOVERY_TIMEOUT})`);
    return;
  }
  if (e.SESSION_TTL > e.SESSION_MAX_AGE) {
    fail("SESSION_TTL", `must be at most SESSION_MAX_AGE (${e.SESSION_MAX_AGE} ms)`);
    return;
  }
  if (e.DISCORD_ENABLED && !isDemo(e) && !e.DISCORD_TOKEN) {
    fail(
      "DISCORD_TOKEN",
      e.NODE_ENV === "production"
        ? "is required in production (set SPYWATCHER_DEMO=true to run the simulated guild, or DISCORD_ENABLED=false to serve the API only)"
        : "is required when SPYWATCHER_DEMO=false",
    );
    return;
  }
  if (e.NODE_ENV === "production" && e.DISCORD_CLIENT_ID && !e.SESSION_SECRET) {
    // Without it each instance would pick its own: Discord tokens sealed by one could not be read by another.
    fail("SESSION_SECRET", "is required in production when DISCORD_CLIENT_ID is set");
    return;
  }
  if (Boolean(e.DISCORD_CLIENT_ID) !== Boolean(e.DISCORD_CLIENT_SECRET)) {
    fail(
      e.DISCORD_CLIENT_ID ? "DISCORD_CLIENT_SECRET" : "DISCORD_CLIENT_ID",
      "DISCORD_CLIENT_ID and DISCORD_CLIENT_SECRET go together",
    );
    return;
  }
}

/** The typed configuration handed to every part of the service, built from the validated environment. */
function toAppConfig(e: Environment) {
  const maxConcurrentQueries = e.ANALYTICS_MAX_CONCURRENT_QUERIES ?? Math.max(1, Math.floor(e.DATABASE_POOL_MAX / 2));
  return {
    env: e.NODE_ENV,
    http: {
      host: e.HOST,
      port: e.PORT,
      trustProxy: e.TRUST_PROXY,
      rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
      /** Completed requests slower than this are logged at warn (HTTP_SLOW_REQUEST_MS, default 1,000; 0 disables). */
      slowRequestMs: e.HTTP_SLOW_REQUEST_MS,
      /** Fraction of completed requests logged at info (HTTP_LOG_SAMPLE_RATE, default 0). */
      logSampleRate: e.HTTP_LOG_SAMPLE_RATE,
    },
    log: { level: e.LOG_LEVEL, pretty: e.LOG_PRETTY },
    /**
     * PostgreSQL pool: size, server-side statement timeout, client-side connect and query timeouts (a query with no
     * answer, e.g. on a silently dead connection, fails and its connection is discarded), TCP keepalive idle delay.
     */
    database: {
      url: e.DATABASE_URL,
      poolMax: e.DATABASE_POOL_MAX,
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
      // Default: the statement timeout plus 1 s, so a live server's own timeout (a clean error) normally comes first.
      queryTimeoutMs: e.DATABASE_QUERY_TIMEOUT_MS ?? e.DATABASE_STATEMENT_TIMEOUT_MS + 1_000,
      keepAliveDelayMs: e.DATABASE_KEEPALIVE_DELAY_MS,
      migrateOnStart: e.MIGRATE_ON_START,
    },
    /**
     * Analytics queries: at most `maxConcurrentQueries` run at once (default half the pool, so ingestion and key checks
     * keep connections), `maxQueuedQueries` wait (default twice that), more answer 503 at once; the last good value of
     * each analytic and window is served stale for `staleIfErrorMs` when it cannot be computed (0 disables).
     */
    analytics: {
      maxConcurrentQueries,
      maxQueuedQueries: e.ANALYTICS_MAX_QUEUED_QUERIES ?? 2 * maxConcurrentQueries,
      staleIfErrorMs: e.ANALYTICS_STALE_IF_ERROR_MS,
    },
    redis: {
      url: e.REDIS_URL,
      clusterNodes: e.REDIS_CLUSTER_NODES,
      protocol: e.REDIS_PROTOCOL,
      connectTimeoutMs: e.REDIS_CONNECT_TIMEOUT_MS,
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
      keyPrefix: e.REDIS_KEY_PREFIX,
      /** REDIS_PASSWORD: AUTH password of every node (cluster nodes and, when its URL has none, the single node). */
      password: e.REDIS_PASSWORD,
      /** REDIS_TLS: connect with TLS (single node: as a rediss:// URL does). */
      tls: e.REDIS_TLS,
      /** ENABLE_REDIS_RATE_LIMITING: count the API rate limit in Redis (shared) or, when false, per process. */
      rateLimiting: e.ENABLE_REDIS_RATE_LIMITING,
    },
    cache: {
      version: e.CACHE_VERSION,
      defaultTtlMs: e.CACHE_DEFAULT_TTL,
      graceMs: e.CACHE_GRACE,
      staleWhileRevalidate: e.CACHE_STALE_WHILE_REVALIDATE,
      refreshAheadAt: e.CACHE_REFRESH_AHEAD_AT,
      softTimeoutMs: e.CACHE_SOFT_TIMEOUT,
      hardTimeoutMs: e.CACHE_HARD_TIMEOUT,
      compressAboveBytes: e.CACHE_COMPRESS_ABOVE_BYTES,
      l1: e.CACHE_L1_ENABLED
        ? { maxEntries: e.CACHE_L1_MAX_ENTRIES, maxBytes: e.CACHE_L1_MAX_BYTES }
        : (false as const),
      invalidationWindowMs: e.CACHE_INVALIDATION_WINDOW_MS,
      softInvalidationStaleMs: e.CACHE_SOFT_INVALIDATION_STALE_MS,
      lockWaitMs: e.CACHE_LOCK_WAIT_MS,
      lockTtlMs: e.CACHE_LOCK_TTL_MS,
      breaker: {
        failureThreshold: e.CACHE_CB_FAILURE_THRESHOLD,
        recoveryTimeoutMs: e.CACHE_CB_RECOVERY_TIMEOUT,
        minRecoveryTimeoutMs: e.CACHE_CB_MIN_RECOVERY_TIMEOUT,
        halfOpenMaxCalls: e.CACHE_CB_HALF_OPEN_MAX_CALLS,
      },
      stats: {
        flushIntervalMs: e.CACHE_STATS_FLUSH_INTERVAL_MS,
        windowMs: e.CACHE_STATS_WINDOW_MS,
        retentionMs: e.CACHE_STATS_RETENTION_MS,
      },
      /** Memory of this application's keys above which the monitoring stats say "degraded" (CACHE_MEMORY_LIMIT_BYTES). */
      memoryLimitBytes: e.CACHE_MEMORY_LIMIT_BYTES,
    },
    /** Discord side; `enabled: false` runs the API only. */
    discord: {
      /** Run the Discord side (DISCORD_ENABLED); false serves the API only. */
      enabled: e.DISCORD_ENABLED,
      /** Demo mode: the bot runs against the local fake Discord's simulated guild (SPYWATCHER_DEMO; default: no token outside production). */
      demo: isDemo(e),
      /** Bot token (DISCORD_TOKEN); required unless `demo`. */
      token: e.DISCORD_TOKEN,
      /** Discord REST base without version (DISCORD_API_URL). */
      apiUrl: e.DISCORD_API_URL,
      /** Request the privileged MessageContent intent (DISCORD_READ_MESSAGE_CONTENT). */
      readMessageContent: e.DISCORD_READ_MESSAGE_CONTENT,
      /** Simulated events per second in demo mode (SIMULATION_EVENTS_PER_SECOND). */
      simulationEventsPerSecond: e.SIMULATION_EVENTS_PER_SECOND,
      /** Rows per insert (INGEST_BATCH_SIZE). */
      ingestBatchSize: e.INGEST_BATCH_SIZE,
      /** Longest wait of a buffered row (INGEST_FLUSH_INTERVAL_MS). */
      ingestFlushIntervalMs: e.INGEST_FLUSH_INTERVAL_MS,
      /** Buffer bound; overflow is counted and logged (INGEST_MAX_BUFFERED_ROWS). */
      ingestMaxBufferedRows: e.INGEST_MAX_BUFFERED_ROWS,
      /** First retry delay of a failed write, doubling (INGEST_RETRY_BASE_MS). */
      ingestRetryBaseMs: e.INGEST_RETRY_BASE_MS,
      /** Ceiling of the retry delay (INGEST_RETRY_MAX_MS). */
      ingestRetryMaxMs: e.INGEST_RETRY_MAX_MS,
      /** Time `stop()` keeps draining the buffer (INGEST_CLOSE_TIMEOUT_MS). */
      ingestCloseTimeoutMs: e.INGEST_CLOSE_TIMEOUT_MS,
      /** Directory of the spill file of rows PostgreSQL did not take at shutdown, replayed at start (INGEST_SPILL_DIR). */
      ingestSpillDir: e.INGEST_SPILL_DIR,
      /** Per-guild invalidation coalescing window (INVALIDATION_COALESCE_MS). */
      invalidationCoalesceMs: e.INVALIDATION_COALESCE_MS,
      /** Soft (stale served for at most one recompute) or hard event-driven invalidation (INVALIDATION_MODE). */
      invalidationMode: e.INVALIDATION_MODE,
    },
    /** The health registry (docs/operations.md): timeouts, retries, result cache, critical checks, thresholds. */
    health: {
      checkTimeoutMs: e.HEALTH_CHECK_TIMEOUT_MS,
      cacheTtlMs: e.HEALTH_CACHE_TTL_MS,
      retry: {
        attempts: e.HEALTH_CHECK_ATTEMPTS,
        initialDelayMs: e.HEALTH_RETRY_INITIAL_DELAY_MS,
        maxDelayMs: e.HEALTH_RETRY_MAX_DELAY_MS,
      },
      criticalChecks: e.HEALTH_CRITICAL_CHECKS,
      rssMaxBytes: e.HEALTH_MEMORY_RSS_MAX_MB * 1_048_576,
      heapMaxPercent: e.HEALTH_MEMORY_HEAP_MAX_PERCENT,
      diskDir: e.HEALTH_DISK_DIR ?? defaultHealthDiskDir(),
      eventLoopDelayMaxMs: e.HEALTH_EVENT_LOOP_DELAY_MAX_MS,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    adminApiKey: e.ADMIN_API_KEY,
    /**
     * API key checks: lookup timeout and stale-if-error grace (0 disables), in ms; failed checks per client address
     * per minute before 429 (0 disables); lookups of never-verified keys in flight at once (default a quarter of the pool).
     */
    auth: {
      lookupTimeoutMs: e.AUTH_LOOKUP_TIMEOUT_MS,
      staleIfErrorMs: e.AUTH_STALE_IF_ERROR_MS,
      failedAuthPerMinute: e.AUTH_FAILURES_PER_MINUTE,
      maxNewKeyLookups: e.AUTH_MAX_NEW_KEY_LOOKUPS ?? Math.ceil(e.DATABASE_POOL_MAX / 4),
    },
    /**
     * "Log in with Discord" and sessions (docs/auth.md). `oauth` is undefined unless DISCORD_CLIENT_ID and
     * DISCORD_CLIENT_SECRET are set (demo mode then uses the fake Discord's own). `sessionSecret` undefined: a random
     * one per process outside production (stored Discord tokens then do not survive a restart).
     */
    sessions: {
      oauth:
        e.DISCORD_CLIENT_ID && e.DISCORD_CLIENT_SECRET
          ? {
              clientId: e.DISCORD_CLIENT_ID,
              clientSecret: e.DISCORD_CLIENT_SECRET,
              redirectUri: e.DISCORD_REDIRECT_URI,
            }
          : undefined,
      authorizeUrl: e.DISCORD_OAUTH_AUTHORIZE_URL,
      discordTimeoutMs: e.DISCORD_OAUTH_TIMEOUT_MS,
      sessionSecret: e.SESSION_SECRET,
      ttlMs: e.SESSION_TTL,
      maxAgeMs: e.SESSION_MAX_AGE,
      scopeRefreshIntervalMs: e.SESSION_SCOPE_REFRESH_INTERVAL,
      staleIfErrorMs: e.SESSION_STALE_IF_ERROR,
      sweepIntervalMs: e.SESSION_SWEEP_INTERVAL,
      stateTtlMs: e.OAUTH_STATE_TTL,
      adminUserIds: e.AUTH_ADMIN_USER_IDS,
      successRedirect: e.AUTH_SUCCESS_REDIRECT,
    },
    /** Bearer token GET /metrics requires (METRICS_TOKEN); unset: an admin API key is required instead. */
    metricsToken: e.METRICS_TOKEN,
    /** The `/ws` endpoint's limits (see docs/realtime.md). */
    realtime: {
      maxConnections: e.WS_MAX_CONNECTIONS,
      maxSubscriptionsPerSocket: e.WS_MAX_SUBSCRIPTIONS,
      authTimeoutMs: e.WS_AUTH_TIMEOUT_MS,
      heartbeatIntervalMs: e.WS_HEARTBEAT_INTERVAL_MS,
      maxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      /** Undefined: 10% of maxConnections, at least 10 (resolveRealtimeOptions). */
      maxUnauthenticatedConnections: e.WS_MAX_UNAUTHENTICATED_CONNECTIONS,
    },
    /**
     * Live guild activity in Redis (docs/activity.md): recorded after rows are durable when `enabled`; flush interval,
     * "typing now" lifetime, least time between two WebSocket pushes of a guild's live counters, retention run interval (0: never).
     */
    activity: {
      enabled: e.ACTIVITY_ENABLED,
      flushIntervalMs: e.ACTIVITY_FLUSH_INTERVAL_MS,
      typingTtlMs: e.ACTIVITY_TYPING_TTL_MS,
      livePushIntervalMs: e.ACTIVITY_LIVE_PUSH_INTERVAL_MS,
      retentionIntervalMs: e.ACTIVITY_RETENTION_INTERVAL_MS,
    },
    /** In-process alert evaluation (docs/alerts.md): interval, window, thresholds, optional webhook. */
    alerts: {
      evalIntervalMs: e.ALERT_EVAL_INTERVAL_MS,
      windowMs: e.ALERT_WINDOW_MS,
      cacheHitRateMinPercent: e.ALERT_CACHE_HIT_RATE_MIN,
      cacheHitRateMinLookups: e.ALERT_CACHE_HIT_RATE_MIN_LOOKUPS,
      redisMemoryMaxPercent: e.ALERT_REDIS_MEMORY_MAX_PERCENT,
      ingestBufferMaxPercent: e.ALERT_INGEST_BUFFER_MAX_PERCENT,
      cacheP99MaxMs: e.ALERT_CACHE_P99_MAX_MS,
      errorRateMaxPercent: e.ALERT_ERROR_RATE_MAX_PERCENT,
      errorRateMinLookups: e.ALERT_ERROR_RATE_MIN_LOOKUPS,
      lockFailureRateMaxPercent: e.ALERT_LOCK_FAILURE_RATE_MAX_PERCENT,
      lockMinAttempts: e.ALERT_LOCK_MIN_ATTEMPTS,
      /** Names this instance in webhook bodies (ALERT_INSTANCE, default `<hostname>:<PORT>`). */
      instance: e.ALERT_INSTANCE ?? `${hostname()}:${e.PORT}`,
      /** Where transitions are POSTed (ALERT_WEBHOOK_URL); undefined: logs only. May carry a token: log its origin only. */
      webhook: e.ALERT_WEBHOOK_URL
        ? {
            url: e.ALERT_WEBHOOK_URL,
            timeoutMs: e.ALERT_WEBHOOK_TIMEOUT_MS,
            retries: e.ALERT_WEBHOOK_RETRIES,
            repeatMs: e.ALERT_WEBHOOK_REPEAT_MS,
          }
        : undefined,
    },
    /** Operators' tools (docs/operations.md): invalidation log and alert history caps, scheduled cleanup, health score. */
    ops: {
      invalidationLogMaxEntries: e.INVALIDATION_LOG_MAX_ENTRIES,
      alertHistoryMaxEntries: e.ALERT_HISTORY_MAX_ENTRIES,
      cleanupIntervalMs: e.CLEANUP_INTERVAL_MS,
      cleanupMaxKeysPerRun: e.CLEANUP_MAX_KEYS_PER_RUN,
      scoreWindowMs: e.HEALTH_SCORE_WINDOW_MS,
      scoreTargetResponseMs: e.HEALTH_SCORE_TARGET_RESPONSE_MS,
    },
  };
}

/** The environment schema, its cross-variable rules and the mapping to the typed configuration, in one schema. */
export const configSchema = environmentSchema.superRefine(checkCrossVariableRules).transform(toAppConfig);

/** The typed configuration handed to every part of the service (derived from `configSchema`, never written by hand). */
export type AppConfig = z.output<typeof configSchema>;

/** Raised when the environment does not validate; its message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super(`Invalid environment:\n${issues.map((issue) => `  - ${issue.variable}: ${issue.message}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Validates an environment (default `process.env`) and returns the typed configuration, or throws ConfigError. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): AppConfig {
  // Empty strings mean "unset" so that `FOO=` in a .env file falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ""));
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? "(environment)"),
        message: issue.message,
      })),
    );
  }
  return parsed.data;
}
