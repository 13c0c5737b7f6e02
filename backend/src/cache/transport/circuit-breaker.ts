import { CircuitOpenError } from "./resilience-errors.ts";

/** The three states of a circuit breaker. */
export type CircuitState = "closed" | "open" | "half-open";

/** Options of a `CircuitBreaker`; the names follow the source documents' CACHE_CB_* variables. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open a closed breaker (CACHE_CB_FAILURE_THRESHOLD, default 5). */
  failureThreshold?: number;
  /**
   * Longest time an open breaker waits before letting trial calls through, in ms (CACHE_CB_RECOVERY_TIMEOUT,
   * default 10,000). The wait starts at `minRecoveryTimeoutMs` and doubles each time the trial calls fail.
   */
  recoveryTimeoutMs?: number;
  /**
   * First wait of an open breaker, in ms (CACHE_CB_MIN_RECOVERY_TIMEOUT, default 1,000, at most
   * `recoveryTimeoutMs`). Short outages (a cluster failover, a restart) then cost about their own length.
   */
  minRecoveryTimeoutMs?: number;
  /** Trial calls let through while half-open; all must succeed to close (CACHE_CB_HALF_OPEN_MAX_CALLS, default 3). */
  halfOpenMaxCalls?: number;
  /** Called synchronously on every state change (logging, metrics). Exceptions it throws are swallowed. */
  onStateChange?: (from: CircuitState, to: CircuitState) => void;
  /** Which errors count as failures of the dependency (default: all). E.g. a validation error should not. */
  isFailure?: (error: unknown) => boolean;
  /** The clock, epoch ms (default `Date.now`); tests inject their own so they need no sleeps. */
  now?: () => number;
}

/** Counters of one breaker, for stats and health output. */
export interface CircuitBreakerStats {
  state: CircuitState;
  consecutiveFailures: number;
  /** Epoch ms of the last transition to open, or null if it never opened. */
  openedAt: number | null;
  /** How long the breaker waits (or waited, last time it opened) before trial calls, in ms. */
  recoveryWaitMs: number;
  /** How many times the breaker has opened. */
  opens: number;
  /** Calls refused because the breaker was open or its trial budget was used. */
  rejected: number;
}

/** Defaults of `CircuitBreakerOptions`. */
export const circuitBreakerDefaults = {
  failureThreshold: 5,
  recoveryTimeoutMs: 10_000,
  minRecoveryTimeoutMs: 1_000,
  halfOpenMaxCalls: 3,
} as const;

/**
 * A closed / open / half-open circuit breaker with no timers: time-based transitions are evaluated lazily with
 * the injected clock whenever the state is read or a request asks to pass.
 *
 * Closed: every call passes; `failureThreshold` consecutive failures open it. Open: calls are refused at once for
 * the recovery wait, then it turns half-open. Half-open: at most `halfOpenMaxCalls` trial calls pass; when that
 * many have succeeded it closes, and any failure re-opens it with the wait doubled (capped at `recoveryTimeoutMs`).
 * The wait starts at `minRecoveryTimeoutMs`; it goes back to that only once the breaker has stayed closed for
 * `recoveryTimeoutMs`, so a dependency that keeps failing right after recovering is not hammered every second.
 */
export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly recoveryTimeoutMs: number;
  private readonly minRecoveryTimeoutMs: number;
  private readonly halfOpenMaxCalls: number;
  private readonly onStateChange: ((from: CircuitState, to: CircuitState) => void) | undefined;
  private readonly isFailure: (error: unknown) => boolean;
  private readonly now: () => number;

  private current: CircuitState = "closed";
  private consecutiveFailures = 0;
  private openedAt: number | null = null;
  private opens = 0;
  private rejected = 0;
  private trialsAdmitted = 0;
  private trialSuccesses = 0;
  private lastTrialAt = 0;
  /** The current recovery wait (doubles on failed trials, back to the minimum after a long enough closed spell). */
  private recoveryWaitMs: number;
  /** Epoch ms of the last transition to closed (null: never re-closed). */
  private closedAt: number | null = null;
  /** Bumped by every state change: outcomes are only counted in the state their call was let through in. */
  private epochValue = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    this.failureThreshold = positiveInteger("failureThreshold", options.failureThreshold, 5);
    this.recoveryTimeoutMs = nonNegative("recoveryTimeoutMs", options.recoveryTimeoutMs, 10_000);
    this.minRecoveryTimeoutMs = Math.min(
      nonNegative("minRecoveryTimeoutMs", options.minRecoveryTimeoutMs, circuitBreakerDefaults.minRecoveryTimeoutMs),
      this.recoveryTimeoutMs,
    );
    this.recoveryWaitMs = this.minRecoveryTimeoutMs;
    this.halfOpenMaxCalls = positiveInteger("halfOpenMaxCalls", options.halfOpenMaxCalls, 3);
    this.onStateChange = options.onStateChange;
    this.isFailure = options.isFailure ?? (() => true);
    this.now = options.now ?? Date.now;
  }

  /** The state now (an open breaker whose recovery time has passed reads as half-open). */
  get state(): CircuitState {
    this.advanceClock();
    return this.current;
  }

  /**
   * The breaker's current epoch (it changes with every state change). Read it right after `allowRequest()` and
   * pass it to `recordSuccess`/`recordFailure`, so a call that was let through in an earlier state (a slow call
   * from before the breaker opened, answering once it is half-open) neither counts as a trial nor re-opens it.
   */
  get epoch(): number {
    return this.epochValue;
  }

  /** Asks to make one call: true if it may go ahead. In half-open, a true answer uses one trial slot. */
  allowRequest(): boolean {
    this.advanceClock();
    if (this.current === "closed") return true;
    if (this.current === "half-open") {
      const now = this.now();
      // A trial whose outcome was never recorded (the caller gave up) must not block recovery forever:
      // after another recovery period with no verdict, its slot is handed out again.
      if (this.trialsAdmitted >= this.halfOpenMaxCalls && now - this.lastTrialAt >= this.recoveryWaitMs) {
        this.trialsAdmitted = this.trialSuccesses;
      }
      if (this.trialsAdmitted < this.halfOpenMaxCalls) {
        this.trialsAdmitted += 1;
        this.lastTrialAt = now;
        return true;
      }
    }
    this.rejected += 1;
    return false;
  }

  /** Records a successful call (`epoch`: the epoch it was let through in; outcomes of another epoch are ignored). */
  recordSuccess(epoch?: number): void {
    this.advanceClock();
    if (epoch !== undefined && epoch !== this.epochValue) return;
    if (this.current === "closed") {
      this.consecutiveFailures = 0;
    } else if (this.current === "half-open") {
      this.trialSuccesses += 1;
      if (this.trialSuccesses >= this.halfOpenMaxCalls) this.transition("closed");
    }
    // Open: a late success of a call let through before the breaker opened says nothing about now; ignore it.
  }

  /** Records a failed call. An error that `isFailure` rejects counts as a success: the dependency did answer. */
  recordFailure(error?: unknown, epoch?: number): void {
    if (error !== undefined && !this.isFailure(error)) {
      this.recordSuccess(epoch);
      return;
    }
    this.advanceClock();
    if (epoch !== undefined && epoch !== this.epochValue) return;
    if (this.current === "closed") {
      this.consecutiveFailures += 1;
      if (this.consecutiveFailures >= this.failureThreshold) this.transition("open");
    } else if (this.current === "half-open") {
      this.transition("open");
    }
    // Open: late failures of calls let through earlier must not push the recovery time further out.
  }

  /**
   * A health probe outside the guarded traffic (a PING) answered: an open breaker ends its wait at once and turns
   * half-open, so trial calls go through now instead of after a recovery wait that may have doubled past the
   * outage; a half-open one counts it as a successful trial (so a breaker nobody calls through still closes).
   */
  probeSucceeded(): void {
    this.advanceClock();
    if (this.current === "open") {
      this.transition("half-open");
    } else if (this.current === "half-open") {
      this.trialSuccesses += 1;
      if (this.trialSuccesses >= this.halfOpenMaxCalls) this.transition("closed");
    }
  }

  /**
   * Opens the breaker now, whatever its state (open and still waiting: nothing changes; open past its wait, which
   * reads as half-open: opened again with the wait doubled, as a failed trial would): the dependency was judged down by
   * other means than failed calls counted here, e.g. a node that answered nothing while this process kept reading
   * (see node-call-watch.ts). The recovery wait is chosen as for any opening.
   */
  trip(): void {
    this.advanceClock();
    if (this.current !== "open") this.transition("open");
  }

  /** Runs `fn` if allowed, recording its outcome; throws `CircuitOpenError` (E_CIRCUIT_OPEN) without calling it otherwise. */
  async execute<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.allowRequest()) throw new CircuitOpenError(this.retryAt());
    const epoch = this.epochValue;
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      this.recordFailure(error, epoch);
      throw error;
    }
    this.recordSuccess(epoch);
    return result;
  }

  /** Epoch ms at which an open breaker lets trial calls through (now, if it is not open). */
  retryAt(): number {
    if (this.current === "open" && this.openedAt !== null) return this.openedAt + this.recoveryWaitMs;
    return this.now();
  }

  /** Counters for stats and health output. */
  stats(): CircuitBreakerStats {
    return {
      state: this.state,
      consecutiveFailures: this.consecutiveFailures,
      openedAt: this.openedAt,
      recoveryWaitMs: this.recoveryWaitMs,
      opens: this.opens,
      rejected: this.rejected,
    };
  }

  /** Forces the breaker closed with clean counters (operator action). */
  reset(): void {
    this.transition("closed");
    this.recoveryWaitMs = this.minRecoveryTimeoutMs;
  }

  private advanceClock(): void {
    if (this.current === "open" && this.openedAt !== null && this.now() - this.openedAt >= this.recoveryWaitMs) {
      this.transition("half-open");
    }
  }

  private transition(to: CircuitState): void {
    const from = this.current;
    this.current = to;
    this.epochValue += 1;
    this.consecutiveFailures = 0;
    this.trialsAdmitted = 0;
    this.trialSuccesses = 0;
    if (to === "open") {
      const now = this.now();
      if (from === "half-open") {
        // The trial calls failed: the dependency is still out, wait twice as long before the next ones.
        this.recoveryWaitMs = Math.min(this.recoveryTimeoutMs, Math.max(1, this.recoveryWaitMs * 2));
      } else if (this.closedAt === null || now - this.closedAt >= this.recoveryTimeoutMs) {
        this.recoveryWaitMs = this.minRecoveryTimeoutMs;
      }
      this.openedAt = now;
      this.opens += 1;
    } else if (to === "closed" && from !== "closed") {
      this.closedAt = this.now();
    }
    if (from === to) return;
    try {
      this.onStateChange?.(from, to);
    } catch {
      // A faulty listener (e.g. a logger) must never break the calls the breaker guards.
    }
  }
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isInteger(result) || result < 1) throw new RangeError(`${name} must be an integer >= 1, got ${result}`);
  return result;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isFinite(result) || result < 0) throw new RangeError(`${name} must be a number >= 0, got ${result}`);
  return result;
}
