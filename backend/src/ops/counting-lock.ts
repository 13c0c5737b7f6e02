import type { LockPort } from "../cache/cache-ports.ts";

/** Stampede lock acquisitions since start. */
export interface LockCounters {
  /** acquire() calls. */
  attempts: number;
  /** Taken. */
  acquired: number;
  /** Held by another process (stampede protection working: not a failure). */
  contended: number;
  /** Rejected: Redis failed or timed out while taking the lock (the caller then computes without it). */
  failures: number;
}

/** A lock port that counts what happens to each acquire (for the lock failure rate alert and the metrics report). */
export function countingLock(inner: LockPort): { lock: LockPort; counters: () => LockCounters } {
  const counters: LockCounters = { attempts: 0, acquired: 0, contended: 0, failures: 0 };
  return {
    counters: () => ({ ...counters }),
    lock: {
      async acquire(name, ttlMs, options) {
        counters.attempts += 1;
        try {
          const handle = await inner.acquire(name, ttlMs, options);
          if (handle) counters.acquired += 1;
          else counters.contended += 1;
          return handle;
        } catch (error) {
          counters.failures += 1;
          throw error;
        }
      },
      // The inner lock's count of locks held now (the `cache_active_locks` gauge), when it keeps one.
      get heldCount() {
        return inner.heldCount;
      },
    },
  };
}
