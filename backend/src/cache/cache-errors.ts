/**
 * Every error the cache layer raises on purpose, each with a stable `code` (like bentocache's errors.ts) and the
 * original error as `cause` where there is one. Loader errors are NOT wrapped: the caller gets its own error back.
 */
export class CacheError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The loader ran past its hard timeout and no stale value could be served (E_FACTORY_HARD_TIMEOUT). */
export class FactoryHardTimeoutError extends CacheError {
  static readonly code = "E_FACTORY_HARD_TIMEOUT";
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
  static readonly code = "E_INVALID_KEY";
  constructor(
    readonly part: string,
    reason: string,
  ) {
    super(InvalidKeyError.code, `invalid cache key part ${JSON.stringify(part)}: ${reason}`);
  }
}

/** A duration string or number could not be parsed (E_INVALID_DURATION). */
export class InvalidDurationError extends CacheError {
  static readonly code = "E_INVALID_DURATION";
  constructor(readonly input: unknown) {
    super(InvalidDurationError.code, `invalid duration ${JSON.stringify(input)}: use seconds (a number, as Redis EX) or "500ms", "30s", "5m", "1h", "1d"`);
  }
}

/** An operation that cannot fail open (tag invalidation, purge, clear) could not reach Redis (E_CACHE_UNAVAILABLE). */
export class CacheUnavailableError extends CacheError {
  static readonly code = "E_CACHE_UNAVAILABLE";
  constructor(operation: string, cause?: unknown) {
    super(CacheUnavailableError.code, `cache operation "${operation}" failed: Redis is unavailable`, { cause });
  }
}

/** The cache was used after `close()` (E_CACHE_CLOSED). */
export class CacheClosedError extends CacheError {
  static readonly code = "E_CACHE_CLOSED";
  constructor() {
    super(CacheClosedError.code, "the cache is closed");
  }
}

/** A counter key holds something that is not an integer (E_NOT_A_COUNTER). */
export class NotACounterError extends CacheError {
  static readonly code = "E_NOT_A_COUNTER";
  constructor(
    readonly key: string,
    cause?: unknown,
  ) {
    super(NotACounterError.code, `cache key "${key}" does not hold an integer counter`, { cause });
  }
}
