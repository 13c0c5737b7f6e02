/**
 * The one table of every error this service raises on purpose (in the style of fastify's `lib/errors.js`): a
 * stable code -> HTTP status, default message and the level it is logged at. Every module raises errors with a
 * code from this table (cache-layer classes included, see `cache/cache-errors.ts`); the HTTP error middleware,
 * the WebSocket server and the CLI read status, message and level from here. Add a code here, never elsewhere.
 */

/** Log levels an error can be logged at ("debug" for expected client mistakes, "error" only for bugs). */
export type ErrorLogLevel = "debug" | "info" | "warn" | "error";

/** One row of the table. */
export interface ErrorDefinition {
  /** HTTP status of the answer. */
  status: number;
  /** Default message (a caller may give a more precise one). */
  message: string;
  /** Level the error middleware logs it at; warn and error lines are rate-limited per code. */
  level: ErrorLogLevel;
}

/** code -> status, message, log level. */
export const ERRORS = {
  E_VALIDATION: { status: 400, message: "The input is not valid", level: "debug" },
  E_BAD_REQUEST: { status: 400, message: "The request is malformed", level: "debug" },
  E_BAD_REQUEST_BODY: { status: 400, message: "The request body could not be read", level: "debug" },
  E_BAD_MESSAGE: { status: 400, message: "The message could not be read", level: "debug" },
  E_INVALID_KEY: { status: 400, message: "A cache key, tag or pattern part is not allowed", level: "debug" },
  E_INVALID_DURATION: {
    status: 400,
    message: 'Invalid duration: use a number or a string such as "500ms", "30s", "5m", "1h"',
    level: "debug",
  },
  E_UNAUTHORIZED: {
    status: 401,
    message: "A valid API key is required: send 'Authorization: Bearer <key>'",
    level: "debug",
  },
  E_FORBIDDEN: { status: 403, message: "This API key does not cover the resource", level: "debug" },
  E_NOT_FOUND: { status: 404, message: "Not found", level: "debug" },
  E_PAYLOAD_TOO_LARGE: { status: 413, message: "The request body is too large", level: "debug" },
  E_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: "The request body's content type or encoding is not supported",
    level: "debug",
  },
  E_OAUTH_STATE: {
    status: 400,
    message:
      "The sign-in state is missing, expired, already used or from another browser: start again at /auth/discord/login",
    level: "debug",
  },
  E_OAUTH_REFUSED: { status: 400, message: "Discord refused the sign-in", level: "info" },
  E_OAUTH_NOT_CONFIGURED: {
    status: 404,
    message:
      "Log in with Discord is not configured on this server (DISCORD_CLIENT_ID, DISCORD_CLIENT_SECRET, DISCORD_REDIRECT_URI)",
    level: "debug",
  },
  E_NO_GUILD_ACCESS: {
    status: 403,
    message: "You have Manage Server or Administrator in no guild where the SpyWatcher bot is present",
    level: "info",
  },
  E_CSRF: {
    status: 403,
    message:
      "This request is authenticated by the session cookie: send the session's CSRF token in the X-CSRF-Token header",
    level: "debug",
  },
  E_DISCORD_UNAVAILABLE: { status: 503, message: "Discord is unavailable: retry later", level: "warn" },
  E_CLEANUP_RUNNING: {
    status: 409,
    message: "Another instance is running the cache cleanup right now: retry in a moment",
    level: "info",
  },
  E_RATE_LIMITED: { status: 429, message: "Too many requests: retry later", level: "debug" },
  E_LIMIT: { status: 429, message: "A limit of this connection was reached", level: "debug" },
  E_INTERNAL: { status: 500, message: "Internal server error", level: "error" },
  E_NOT_A_COUNTER: { status: 500, message: "The cache key does not hold an integer counter", level: "error" },
  E_DEPENDENCY_UNAVAILABLE: { status: 503, message: "A dependency is unavailable: retry later", level: "warn" },
  E_ACTIVITY_UNAVAILABLE: {
    status: 503,
    message: "Live activity is unavailable: Redis did not answer. Try again shortly.",
    level: "warn",
  },
  E_ANALYTICS_BUSY: { status: 503, message: "Too many analytics are being computed: retry later", level: "warn" },
  E_CACHE_UNAVAILABLE: { status: 503, message: "The cache (Redis) is unavailable: retry later", level: "warn" },
  E_CACHE_CLOSED: { status: 503, message: "The cache is closed: the service is stopping", level: "warn" },
  E_CIRCUIT_OPEN: { status: 503, message: "Redis calls are suspended (circuit open): retry later", level: "warn" },
  E_LOCK_NOT_ACQUIRED: { status: 503, message: "Another owner holds the lock: retry later", level: "warn" },
  E_LOCK_LOST: { status: 503, message: "A lock was lost before the work finished", level: "warn" },
  E_SHUTTING_DOWN: { status: 503, message: "The service is stopping", level: "info" },
  E_FACTORY_HARD_TIMEOUT: {
    status: 504,
    message: "The computation did not finish in time and no earlier value can be served",
    level: "warn",
  },
} as const satisfies Record<`E_${string}`, ErrorDefinition>;

/** Every error code of the service. */
export type ErrorCode = keyof typeof ERRORS;

/** Whether `code` is a code of the table (a string from elsewhere, e.g. a parsed error). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERRORS, code);
}

/**
 * Every error this service raises on purpose: a code of the table, a message, optional details for the client and
 * the original error as `cause`. Status and log level come from the table. The HTTP error middleware turns it into
 * `{error: {code, message, details}}`.
 */
export class AppError extends Error {
  /** HTTP status (from the table). */
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string = ERRORS[code].message,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.status = ERRORS[code].status;
  }
}

/** Input failed validation (400). `details` lists each field and what was wrong with it. */
export class ValidationError extends AppError {
  constructor(message: string, details?: unknown) {
    super("E_VALIDATION", message, details);
  }
}

/** No or unknown credentials (401). */
export class UnauthorizedError extends AppError {
  constructor(message: string = ERRORS.E_UNAUTHORIZED.message) {
    super("E_UNAUTHORIZED", message);
  }
}

/** Valid credentials that do not cover the resource (403). */
export class ForbiddenError extends AppError {
  constructor(message: string) {
    super("E_FORBIDDEN", message);
  }
}

/** The route or resource does not exist (404). */
export class NotFoundError extends AppError {
  constructor(message: string) {
    super("E_NOT_FOUND", message);
  }
}

/**
 * Too many analytics computations are running and waiting already (503, `Retry-After`): PostgreSQL work is bounded
 * so a cache outage cannot take the pool from ingestion and key checks (docs/reliability.md).
 */
export class AnalyticsBusyError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super("E_ANALYTICS_BUSY", `Too many analytics are being computed: retry in ${retryAfterSeconds} s`, {
      retryAfterSeconds,
    });
  }
}

/** A dependency (database, cache) did not answer in time or is down (503). */
export class DependencyUnavailableError extends AppError {
  constructor(dependency: string, message: string, cause?: unknown) {
    super("E_DEPENDENCY_UNAVAILABLE", message, { dependency }, { cause });
  }
}

/** Too many requests for one API key in the current window (429). */
export class TooManyRequestsError extends AppError {
  constructor(message: string) {
    super("E_RATE_LIMITED", message);
  }
}

/** Too many failed authentications from one client address (429); `retryAfterSeconds` goes in `Retry-After`. */
export class AuthRateLimitedError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super(
      "E_RATE_LIMITED",
      `Too many failed authentications (API keys or session tokens) from this address: retry in ${retryAfterSeconds} s`,
      { retryAfterSeconds },
    );
  }
}

/** Another instance is running the scheduled cache cleanup right now (409): retry after it finishes. */
export class CleanupRunningError extends AppError {
  constructor() {
    super("E_CLEANUP_RUNNING", "another instance is running the cache cleanup right now: retry in a moment");
  }
}

/** Live activity (Redis) could not be read: Redis is down, slow, or its circuit breaker is open (503). */
export class ActivityUnavailableError extends AppError {
  constructor(cause?: unknown) {
    super("E_ACTIVITY_UNAVAILABLE", undefined, { dependency: "redis" }, { cause });
  }
}

/** "Log in with Discord": the `state` is missing, forged, expired or already used, or not this browser's (400). */
export class OAuthStateError extends AppError {
  constructor() {
    super("E_OAUTH_STATE");
  }
}

/** "Log in with Discord": Discord refused the authorization code, or the user declined (400). */
export class OAuthRefusedError extends AppError {
  constructor(message: string, details?: unknown) {
    super("E_OAUTH_REFUSED", message, details);
  }
}

/** "Log in with Discord" is not configured (DISCORD_CLIENT_ID/SECRET outside demo mode) (404). */
export class OAuthNotConfiguredError extends AppError {
  constructor() {
    super("E_OAUTH_NOT_CONFIGURED");
  }
}

/** The signed-in Discord user moderates no guild where the bot is present, and is not an admin (403). */
export class NoGuildAccessError extends AppError {
  constructor() {
    super("E_NO_GUILD_ACCESS");
  }
}

/** A state-changing request authenticated by the session cookie lacks the right X-CSRF-Token header (403). */
export class CsrfError extends AppError {
  constructor() {
    super("E_CSRF");
  }
}

/** Discord did not answer in time, could not be reached, or failed (503). */
export class DiscordUnavailableError extends AppError {
  constructor(message: string, cause?: unknown) {
    super("E_DISCORD_UNAVAILABLE", message, { dependency: "discord" }, { cause });
  }
}
