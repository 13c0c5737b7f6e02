import type { z } from "zod";

/** Where one remember call keeps its last good value, and for how long (resolved from `RememberOptions.lastGood`). */
export interface LastGoodPlan {
  /** Full Redis key of the copy. */
  fullKey: string;
  /** How long after its computation a copy may be served when the loader fails (the stale-if-error horizon). */
  horizonMs: number;
}

/** One remember call, with every option resolved. */
export interface RememberPlan<T> {
  key: string;
  fullKey: string;
  ttlMs: number;
  graceMs: number;
  tags: string[];
  schema: z.ZodType<T> | undefined;
  softTimeoutMs: number | undefined;
  hardTimeoutMs: number | undefined;
  refreshAheadAt: number;
  staleWhileRevalidate: boolean;
  /** `RememberOptions.statsLabel`. */
  statsLabel?: string | undefined;
  /** Where the last good value is kept for stale-if-error (undefined: only the entry's own grace). */
  lastGood?: LastGoodPlan | undefined;
}
