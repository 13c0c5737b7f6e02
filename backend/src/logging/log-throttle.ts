/** Options of a LogThrottle. */
export interface LogThrottleOptions {
  /** Minimum time between two lines of one key in ms (default 1,000). */
  intervalMs?: number;
  /** Keys remembered at once; past it the oldest is forgotten (default 1,000). */
  maxKeys?: number;
  /** Clock in ms (default Date.now). */
  now?: () => number;
}

/**
 * Rate-limits log lines per key (an error code, a failing dependency): at most one line per key per interval, and
 * the line that is written says how many were left out since the previous one. A flood of identical failures
 * (every request while PostgreSQL is cut) becomes one line a second with a count, not one line per request.
 */
export class LogThrottle {
  private readonly seen = new Map<string, { loggedAt: number; suppressed: number }>();
  private readonly intervalMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(options: LogThrottleOptions = {}) {
    this.intervalMs = options.intervalMs ?? 1_000;
    this.maxKeys = options.maxKeys ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  /** Whether a line for `key` may be written now: the count of lines left out since the last one, or undefined (skip it). */
  admit(key: string): number | undefined {
    const now = this.now();
    const entry = this.seen.get(key);
    if (entry && now - entry.loggedAt < this.intervalMs) {
      entry.suppressed += 1;
      return undefined;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.seen.delete(key);
    if (this.seen.size >= this.maxKeys) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { loggedAt: now, suppressed: 0 });
    return suppressed;
  }
}
