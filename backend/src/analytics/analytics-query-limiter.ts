import { AnalyticsBusyError } from "../errors.ts";

/** Bounds of the analytics query limiter. */
export interface AnalyticsQueryLimits {
  /** Computations running at once (each holds one pooled PostgreSQL connection at a time). */
  maxConcurrent: number;
  /** Computations waiting for a turn; one more is refused at once with AnalyticsBusyError. */
  maxQueued: number;
  /** `Retry-After` of a refusal, in seconds (default 1). */
  retryAfterSeconds?: number;
}

/**
 * A concurrency limit on analytics computations with a bounded FIFO queue. While Redis is down every request
 * reaches PostgreSQL (identical ones share a run); this keeps that work to a share of the pool and answers the
 * excess with a fast 503 instead of letting it queue for connections until the pool's timeout. Hand-written:
 * a counter and an array are the whole of it, smaller than the adapter a library's API would need here.
 */
export class AnalyticsQueryLimiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limits: AnalyticsQueryLimits) {}

  /** Runs `compute` when a slot is free, or rejects with AnalyticsBusyError at once when the queue is full. */
  async run<T>(compute: () => Promise<T>): Promise<T> {
    if (this.running >= this.limits.maxConcurrent) {
      if (this.waiting.length >= this.limits.maxQueued)
        throw new AnalyticsBusyError(this.limits.retryAfterSeconds ?? 1);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running += 1;
    try {
      return await compute();
    } finally {
      // The slot passes straight to the next waiter (running stays the same), or is given back.
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }

  /** Computations running and waiting now (for tests and metrics). */
  snapshot(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
