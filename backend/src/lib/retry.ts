/**
 * Retrying with back-off, the one implementation the service uses (Redis reconnects, ingestion writes and spill
 * replay, health check retries, the alert webhook, the stampede lock). Hand-written rather than p-retry or cockatiel:
 * the formula is a few lines, and every caller needs its own way to wait (cut short at shutdown, aborted by a
 * signal), which `sleep` and `retry`'s `signal` give without an adapter. See docs/architecture.md.
 */

/** Exponential back-off: `initialMs` before the first retry, doubling per retry, at most `maxMs`. */
export interface BackoffPolicy {
  /** Delay before the first retry, in ms. */
  initialMs: number;
  /** Ceiling of the delay, in ms (default none). */
  maxMs?: number;
  /**
   * Share of each delay that is random, so callers that failed together do not retry in step (default 0): 0.2 waits
   * 80-100% of the step, 0.5 waits 50-100%.
   */
  jitter?: number;
}

/** The delay before retry number `attempt` (1-based) under `policy`, in whole ms. */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.initialMs * 2 ** Math.max(0, attempt - 1), policy.maxMs ?? Number.POSITIVE_INFINITY);
  const jitter = policy.jitter ?? 0;
  return Math.round(jitter > 0 ? step * (1 - jitter + jitter * random()) : step);
}

/**
 * Waits `ms`; its timer never holds the process open. With `signal`, an abort ends the wait at once, rejecting with
 * the signal's reason (already aborted: rejects at once).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    timer.unref();
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Options of `retry`. */
export interface RetryOptions {
  /** Most attempts in all, the first included (default unbounded: until it succeeds, `shouldRetry` says no, or `signal` aborts). */
  attempts?: number;
  /** The back-off between attempts. */
  backoff: BackoffPolicy;
  /** Whether a failure is worth another attempt (default: every failure is). */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Told of each failed attempt that will be retried, with the delay before the next one. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Aborting ends a wait at once and stops retrying: the last failure is thrown. */
  signal?: AbortSignal;
}

/** Runs `work` until it resolves; after a failure waits the back-off and tries again, within `attempts`; throws the last failure. */
export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = options.attempts ?? Number.POSITIVE_INFINITY;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work(attempt);
    } catch (error) {
      const retrying =
        attempt < attempts && !options.signal?.aborted && (options.shouldRetry?.(error, attempt) ?? true);
      if (!retrying) throw error;
      const delayMs = backoffDelayMs(attempt, options.backoff);
      options.onRetry?.(error, attempt, delayMs);
      // An abort during the wait ends it; the failure of the attempt is what the caller gets.
      const aborted = await sleep(delayMs, options.signal).then(
        () => false,
        () => true,
      );
      if (aborted) throw error;
    }
  }
}
