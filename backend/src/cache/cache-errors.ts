import { AppError, type ErrorCode } from "../errors.ts";

/**
 * Every error the cache layer raises on purpose, each with a stable `code` from the service's one error table
 * (`backend/src/errors.ts`, which also gives its HTTP status and log level) and the original error as `cause`
 * where there is one. The classes stay here so the cache layer is usable on its own (errors.ts imports nothing).
 * Loader errors are NOT wrapped: the caller gets its own error back.
 */
export class CacheError extends AppError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, undefined, options);
  }
}

/** The loader ran past its hard timeout and no stale value could be served (E_FACTORY_HARD_TIMEOUT). */
export class FactoryHardTimeoutError extends CacheError {
  static readonly code = "E_FACTORY_HARD_TIMEOUT" satisfies ErrorCode;
  constructor(
    readonly key: string,
    readonly timeoutMs: number,
    cause?: unknown,
  ) {
    super(FactoryHardTimeoutError.code, `loader for "${key}" did not finish within ${timeoutMs} ms`, { cause });
  }
}

/** A key, tag or pattern part is not allowed (whitespace, control or glob characters, empty) (E_INVALID_KEY). */
export class InvalidKeyError extends CacheError {
  static readonly code = "E_INVALID_KEY" satisfies ErrorCode;
  constructor(
    readonly part: string,
    reason: string,
  ) {
    super(InvalidKeyError.code, `invalid cache key part ${JSON.stringify(part)}: ${reason}`);
  }
}

/** A duration string or number could not be parsed (E_INVALID_DURATION). */
export class InvalidDurationError extends CacheError {
  static readonly code = "E_INVALID_DURATION" satisfies ErrorCode;
  constructor(readonly input: unknown) {
    super(
      InvalidDurationError.code,
      `invalid duration ${JSON.stringify(input)}: use seconds (a number, as Redis EX) or "500ms", "30s", "5m", "1h", "1d"`,
    );
  }
}

/** An operation that cannot fail open (tag invalidation, purge, clear) could not reach Redis (E_CACHE_UNAVAILABLE). */
export class CacheUnavailableError extends CacheError {
  static readonly code = "E_CACHE_UNAVAILABLE" satisfies ErrorCode;
  constructor(operation: string, cause?: unknown) {
    super(CacheUnavailableError.code, `cache operation "${operation}" failed: Redis is unavailable`, { cause });
  }
}

/** The cache was used after `close()` (E_CACHE_CLOSED). */
export class CacheClosedError extends CacheError {
  static readonly code = "E_CACHE_CLOSED" satisfies ErrorCode;
  constructor() {
    super(CacheClosedError.code, "the cache is closed");
  }
}

/** A counter key holds something that is not an integer (E_NOT_A_COUNTER). */
export class NotACounterError extends CacheError {
  static readonly code = "E_NOT_A_COUNTER" satisfies ErrorCode;
  constructor(
    readonly key: string,
    cause?: unknown,
  ) {
    super(NotACounterError.code, `cache key "${key}" does not hold an integer counter`, { cause });
  }
}
