import { ipKeyGenerator } from "express-rate-limit";
import { LRUCache } from "lru-cache";

/** Options of the failed-authentication limiter. */
export interface FailedAuthLimiterOptions {
  /** Failed authentications per client address per window before it is limited (AUTH_FAILURES_PER_MINUTE, default 30); 0 disables. */
  limit: number;
  /** Window length in ms (default 60,000). */
  windowMs?: number;
  /** Client addresses tracked at once, least recently failing dropped first (default 10,000). */
  maxClients?: number;
  /** Clock in ms (default Date.now). */
  now?: () => number;
}

/** What `check` answers for a client address. */
export type FailedAuthVerdict = { limited: false } | { limited: true; retryAfterSeconds: number };

/**
 * Counts failed authentications (401s) per client address in fixed windows, in this process only, so a flood of
 * wrong keys can be refused before it costs PostgreSQL lookups. Bounded: at most `maxClients` addresses are held;
 * IPv6 addresses are counted per /56 (as express-rate-limit does), so one host cannot rotate through its prefix.
 * Successful authentications are never counted: a busy client behind a shared address is not slowed down.
 */
export class FailedAuthLimiter {
  private readonly clients: LRUCache<string, { windowStart: number; failures: number }>;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(private readonly options: FailedAuthLimiterOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.clients = new LRUCache({ max: options.maxClients ?? 10_000 });
  }

  /** Whether `clientIp` is over the limit in the current window (and for how many more seconds). */
  check(clientIp: string): FailedAuthVerdict {
    if (this.options.limit <= 0) return { limited: false };
    // peek: checking must not keep an address in the LRU; only failing does.
    const entry = this.clients.peek(clientKey(clientIp));
    const now = this.now();
    if (!entry || now - entry.windowStart >= this.windowMs || entry.failures < this.options.limit)
      return { limited: false };
    return {
      limited: true,
      retryAfterSeconds: Math.max(1, Math.ceil((entry.windowStart + this.windowMs - now) / 1_000)),
    };
  }

  /** Counts one failed authentication from `clientIp`. */
  recordFailure(clientIp: string): void {
    if (this.options.limit <= 0) return;
    const key = clientKey(clientIp);
    const now = this.now();
    const entry = this.clients.get(key);
    if (!entry || now - entry.windowStart >= this.windowMs) this.clients.set(key, { windowStart: now, failures: 1 });
    else entry.failures += 1;
  }

  /** Client addresses currently tracked (at most `maxClients`). */
  get size(): number {
    return this.clients.size;
  }
}

function clientKey(clientIp: string): string {
  try {
    return ipKeyGenerator(clientIp);
  } catch {
    // Not an address (a socket already gone, a test double): counted under its own string.
    return clientIp;
  }
}
