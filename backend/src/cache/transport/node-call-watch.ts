import { TimeoutError } from "../../lib/with-timeout.ts";
import type { CircuitBreaker } from "./circuit-breaker.ts";

/** One call in flight, grouped by the breaker of the node it went to. */
interface WatchedCall {
  breaker: CircuitBreaker;
  /** performance.now() when it was sent. */
  sentAt: number;
  label: string;
  /** False for calls that may go to any node (their silence says nothing about one node): only timed out. */
  judged: boolean;
  fail: (error: Error) => void;
}

/** Options of `NodeCallWatch`. */
export interface NodeCallWatchOptions {
  /** Longest wait for any call, ms (the command timeout). */
  timeoutMs: number;
  /**
   * A node that has answered nothing for this long, ms, while this process kept reading its sockets, is judged
   * silent (default: half of `timeoutMs`; 0 turns the judgement off, leaving only the timeout).
   */
  silentAfterMs?: number;
  /** Called once per verdict with the silent node's breaker, before its calls are failed. */
  onSilent: (breaker: CircuitBreaker) => void;
}

/**
 * Bounds calls to Redis nodes with one interval instead of a timer per call, and judges a node silent as soon as
 * that can be told apart from a slow process: its oldest call in flight was sent `silentAfterMs` ago, the node has
 * answered nothing since (no reply, not even an error reply), and every tick of this interval since that call was
 * sent came on time (an event loop blocked for longer than two ticks may hold the node's replies unread, so calls
 * sent before such a block are only ever failed by the timeout). A silent node's breaker is opened (`onSilent`) and
 * every call in flight to it fails at once with a TimeoutError, so callers fall back (a stale copy, the loader, a
 * rate limit passed) after about `silentAfterMs` instead of each waiting out the command timeout, and the breaker
 * does not need several such waits to open (docs/cache-resilience.md, "Failure isolation per master").
 *
 * Calls are tracked in the order they are sent, so each tick stops at the first one too young to judge. The
 * interval runs only while calls are in flight and never keeps the process alive.
 */
export class NodeCallWatch {
  /** The interval, ms. */
  readonly tickMs: number;
  private readonly silentAfterMs: number;
  /** In flight, oldest first (a Set keeps insertion order, and performance.now() only grows). */
  private readonly calls = new Set<WatchedCall>();
  /** When each node (by its breaker) last answered anything, performance.now(). */
  private readonly answeredAt = new WeakMap<CircuitBreaker, number>();
  /** Nodes whose connection closed (`connectionLost`) and that have answered nothing since, with when. */
  private readonly lost = new Map<CircuitBreaker, number>();
  private timer: NodeJS.Timeout | undefined;
  private lastTickAt = 0;
  /** The last tick that came more than two ticks late: replies may have waited unread until then. */
  private lateTickAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: NodeCallWatchOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${options.timeoutMs}`);
    this.silentAfterMs = options.silentAfterMs ?? options.timeoutMs / 2;
    if (!(this.silentAfterMs >= 0)) throw new RangeError(`silentAfterMs must be >= 0, got ${this.silentAfterMs}`);
    this.tickMs = Math.max(
      1,
      Math.min(25, Math.floor(Math.min(options.timeoutMs, this.silentAfterMs || Infinity) / 5)),
    );
  }

  /**
   * Settles like `pending` (a call just sent to the node `breaker` guards), or rejects with a TimeoutError once the
   * command timeout has passed or, when `judged` (default), the node is judged silent. The call itself is not
   * cancelled.
   */
  bound<T>(breaker: CircuitBreaker, pending: Promise<T>, label: string, judged = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call: WatchedCall = { breaker, sentAt: performance.now(), label, judged, fail: reject };
      this.calls.add(call);
      this.start();
      pending.then(
        (value) => {
          this.answered(call);
          resolve(value);
        },
        (error: unknown) => {
          // An error reply is an answer too: the node is there.
          if (error instanceof Error && error.name === "ReplyError") this.answered(call);
          else this.calls.delete(call);
          reject(error);
        },
      );
    });
  }

  /**
   * The connection to the node `breaker` guards has closed (a killed process resets it at once): its calls in
   * flight, and those sent before it answers again, need not wait `silentAfterMs` to be judged; one tick will do
   * (the same verdict otherwise: unanswered, the ticks on time). A node that reconnects and answers is not judged.
   */
  connectionLost(breaker: CircuitBreaker): void {
    this.lost.set(breaker, performance.now());
  }

  /** Calls in flight (for tests). */
  get pending(): number {
    return this.calls.size;
  }

  /** Stops the interval and fails nothing (the owner is closing; calls still settle or time out on their own). */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private answered(call: WatchedCall): void {
    this.calls.delete(call);
    this.answeredAt.set(call.breaker, performance.now());
    if (this.lost.size > 0) this.lost.delete(call.breaker);
  }

  private start(): void {
    if (this.timer !== undefined) return;
    this.lastTickAt = performance.now();
    this.timer = setInterval(this.tick, this.tickMs);
    this.timer.unref();
  }

  private readonly tick = (): void => {
    const now = performance.now();
    if (now - this.lastTickAt > 2 * this.tickMs) this.lateTickAt = now;
    this.lastTickAt = now;
    const timedOutBefore = now - (this.options.timeoutMs - this.tickMs);
    let silent: Set<CircuitBreaker> | undefined;
    const judging = this.silentAfterMs > 0;
    for (const call of this.calls) {
      if (call.sentAt <= timedOutBefore) {
        this.calls.delete(call);
        call.fail(new TimeoutError(call.label, this.options.timeoutMs));
        continue;
      }
      if (!judging) break;
      if (!call.judged) continue;
      const lostAt = this.lost.get(call.breaker);
      // Waited long enough to judge: `silentAfterMs`, or one tick since both the send and the lost connection.
      const due =
        now - call.sentAt >= this.silentAfterMs ||
        (lostAt !== undefined && now - this.tickMs >= Math.max(lostAt, call.sentAt));
      if (!due) {
        // The rest are younger still, unless a lost connection makes young calls judgeable too.
        if (this.lost.size === 0) break;
        continue;
      }
      if (call.sentAt > this.lateTickAt && !((this.answeredAt.get(call.breaker) ?? -1) > call.sentAt)) {
        silent ??= new Set();
        silent.add(call.breaker);
      }
    }
    if (silent !== undefined) {
      for (const breaker of silent) {
        this.lost.delete(breaker);
        this.options.onSilent(breaker);
      }
      for (const call of this.calls) {
        if (!silent.has(call.breaker)) continue;
        this.calls.delete(call);
        call.fail(new TimeoutError(`${call.label} (node silent)`, this.silentAfterMs));
      }
    }
    if (this.calls.size === 0) {
      // Nothing in flight: forget lost connections too (a call sent later waits `silentAfterMs` to be judged), so
      // nodes that never come back are not remembered forever.
      this.lost.clear();
      this.close();
    }
  };
}
