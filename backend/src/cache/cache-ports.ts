/**
 * The shapes the engine needs from its collaborators (C2's lock and stats recorder match them). Depending on
 * shapes, not classes, lets `createCache` accept any implementation and keeps the engine testable on its own.
 */

/** A held lock. */
export interface LockHandlePort {
  readonly name: string;
  release(): Promise<boolean>;
  extend(ttlMs: number): Promise<boolean>;
}

/** The distributed lock the stampede protection uses (backend/src/cache/lock/distributed-lock.ts). */
export interface LockPort {
  acquire(
    name: string,
    ttlMs: number,
    options?: { retries?: number; retryDelayMs?: number; maxRetryDelayMs?: number },
  ): Promise<LockHandlePort | null>;
  /** Locks this process holds right now, when the implementation counts them. */
  readonly heldCount?: number;
}

import type { FleetCacheStats, LocalCacheStats } from "./stats/cache-stats-types.ts";

/** The statistics recorder (backend/src/cache/stats/cache-stats.ts). */
export interface StatsPort {
  /** `label`: the call's `statsLabel` (counted per label too), if any. */
  recordHit(tier: "l1" | "l2", label?: string): void;
  recordMiss(label?: string): void;
  recordStale(label?: string): void;
  recordError(): void;
  recordBypass(label?: string): void;
  observeRedisLatency(ms: number): void;
  observeLoaderLatency(ms: number): void;
  snapshot(): LocalCacheStats;
  fleetStats(options?: { lastMs?: number }): Promise<FleetCacheStats>;
  close(): Promise<void> | void;
}
