import type { ErrorCode } from "../../errors.ts";
import { CacheError } from "../cache-errors.ts";

/**
 * Errors of the cache layer's resilience, locking and statistics parts. Each has a stable `code` and keeps the
 * original error as `cause`. They do not depend on the HTTP layer, so the cache layer stays usable on its own.
 */
export class ResilienceError extends CacheError {}

/** The circuit breaker is open (or half-open with its trial calls used up): the call was not attempted. */
export class CircuitOpenError extends ResilienceError {
  static readonly code = "E_CIRCUIT_OPEN" satisfies ErrorCode;
  constructor(
    /** Epoch ms at which the breaker will let a trial call through again. */
    readonly retryAt: number,
    options?: { cause?: unknown },
  ) {
    super(CircuitOpenError.code, `circuit open: calls are refused until ${new Date(retryAt).toISOString()}`, options);
  }
}

/** `withLock` could not acquire the lock within its retries (or was aborted while waiting). */
export class LockNotAcquiredError extends ResilienceError {
  static readonly code = "E_LOCK_NOT_ACQUIRED" satisfies ErrorCode;
  constructor(
    readonly lockName: string,
    message = `lock "${lockName}" is held by another owner`,
    options?: { cause?: unknown },
  ) {
    super(LockNotAcquiredError.code, message, options);
  }
}

/** A lock expired or was taken over while its holder still ran (auto-extend failed). */
export class LockLostError extends ResilienceError {
  static readonly code = "E_LOCK_LOST" satisfies ErrorCode;
  constructor(
    readonly lockName: string,
    options?: { cause?: unknown },
  ) {
    super(LockLostError.code, `lock "${lockName}" was lost before the work finished`, options);
  }
}
