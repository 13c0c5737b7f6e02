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
 * that can be told apart from a slow process: the node has answered nothing (no reply, not even an error reply)
 * from the moment its oldest call in flight was sent until the previous tick, `silentAfterMs` or more. Measuring to
 * the previous tick, not to now, is what tells a silent node from a blocked event loop: the poll phase that followed
 * the previous tick has read every reply that had arrived by then, while replies that arrived during a block since
 * may still wait unread in the socket. And another node must have answered a call sent after that oldest one: when
 * every master pauses at once (a failover's configuration writes stall live masters too), none is judged, and only
 * the timeout applies. A silent node's breaker is opened (`onSilent`) and every call in flight to it
 * fails at once with a TimeoutError, so callers fall back (a stale copy, the loader, a rate limit passed) after
 * about `silentAfterMs` instead of each waiting out the command timeout, and the breaker does not need several such
 * waits to open (docs/cache-resilience.md, "Failure isolation per master").
 *
 * A node known to refuse connections (`connectionRefused`) is judged sooner: its calls once it has answered nothing
 * for a tick since both their sending and the refusal, until it answers something.
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
  /**
   * The latest send time of an answered judged call, per node, and the two nodes with the latest ones: a node is only
   * judged silent while another node answered a call sent after its oldest (see `othersAnsweredSince`).
   */
  private readonly answeredSentAt = new WeakMap<CircuitBreaker, number>();
  private latest: { breaker: CircuitBreaker | undefined; sentAt: number }[] = [
    { breaker: undefined, sentAt: Number.NEGATIVE_INFINITY },
    { breaker: undefined, sentAt: Number.NEGATIVE_INFINITY },
  ];
  /** Nodes that refused a connection (`connectionRefused`) and have answered nothing since, with when. */
  private readonly refused = new Map<CircuitBreaker, number>();
  private timer: NodeJS.Timeout | undefined;
  /** When the previous tick ran (the poll phase after it read every reply that had arrived by then). */
  private lastTickAt = 0;

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
   * command timeout has passed (between `timeoutMs - tickMs` and `timeoutMs`, plus the event loop's lateness) or,
   * when `judged` (default), the node is judged silent. The call itself is not cancelled.
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
   * The node `breaker` guards refused a connection (ioredis reconnected to it and failed): calls to it cannot be
   * answered until it is back, so they are judged one tick after both their sending and now, not after
   * `silentAfterMs` (the same verdict otherwise: nothing answered). Forgotten once the node answers anything, once
   * it is judged, once nothing at all is in flight, and ignored once older than the command timeout (ioredis reports
   * a refusal at each attempt while the node is down).
   */
  connectionRefused(breaker: CircuitBreaker): void {
    this.refused.set(breaker, performance.now());
  }

  /** Calls in flight (for tests). */
  get pending(): number {
    return this.calls.size;
  }

  /** True while the interval runs (for tests): only while calls are in flight. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** The owner is closing: the interval stops as soon as nothing is in flight (calls still in flight keep their deadline). */
  close(): void {
    if (this.calls.size === 0) this.stop();
  }

  private answered(call: WatchedCall): void {
    this.calls.delete(call);
    this.answeredAt.set(call.breaker, performance.now());
    if (call.judged && call.sentAt > (this.answeredSentAt.get(call.breaker) ?? Number.NEGATIVE_INFINITY)) {
      this.answeredSentAt.set(call.breaker, call.sentAt);
      const [first, second] = this.latest as [
        { breaker: CircuitBreaker | undefined; sentAt: number },
        { breaker: CircuitBreaker | undefined; sentAt: number },
      ];
      if (first.breaker === call.breaker) first.sentAt = call.sentAt;
      else if (call.sentAt > first.sentAt) this.latest = [{ breaker: call.breaker, sentAt: call.sentAt }, first];
      else if (second.breaker === call.breaker || call.sentAt > second.sentAt)
        this.latest = [first, { breaker: call.breaker, sentAt: call.sentAt }];
    }
    if (this.refused.size > 0) this.refused.delete(call.breaker);
  }

  /**
   * True when a node other than `breaker`'s answered a call sent after `sentAt`: the network, the process and the
   * cluster work, so this node's silence is its own. A pause of every master at once (a failover's configuration
   * writes stall live masters too) judges none of them; only the timeout applies then.
   */
  private othersAnsweredSince(breaker: CircuitBreaker, sentAt: number): boolean {
    const [first, second] = this.latest as [
      { breaker: CircuitBreaker | undefined; sentAt: number },
      { sentAt: number },
    ];
    return (first.breaker === breaker ? second.sentAt : first.sentAt) > sentAt;
  }

  private start(): void {
    if (this.timer !== undefined) return;
    this.lastTickAt = performance.now();
    this.timer = setInterval(this.tick, this.tickMs);
    this.timer.unref();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private readonly tick = (): void => {
    const now = performance.now();
    // Replies read by now are those that had arrived when the poll phase after the previous tick ran.
    const readUntil = this.lastTickAt;
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
      const refusedAt = this.refused.get(call.breaker);
      // Silent long enough, as far as the replies read so far tell: `silentAfterMs`, or for a node that refuses
      // connections a tick, from both the sending and the refusal to the previous tick.
      const due =
        readUntil - call.sentAt >= this.silentAfterMs ||
        (refusedAt !== undefined &&
          now - refusedAt <= this.options.timeoutMs &&
          readUntil - Math.max(refusedAt, call.sentAt) >= this.tickMs);
      if (!due) {
        // The rest are younger still, unless a refusing node makes young calls judgeable too.
        if (this.refused.size === 0) break;
        continue;
      }
      if (
        !((this.answeredAt.get(call.breaker) ?? -1) > call.sentAt) &&
        (refusedAt !== undefined || this.othersAnsweredSince(call.breaker, call.sentAt))
      ) {
        silent ??= new Set();
        silent.add(call.breaker);
      }
    }
    if (silent !== undefined) {
      for (const breaker of silent) {
        this.refused.delete(breaker);
        this.options.onSilent(breaker);
      }
      for (const call of this.calls) {
        if (!silent.has(call.breaker)) continue;
        this.calls.delete(call);
        call.fail(new TimeoutError(`${call.label} (node silent)`, Math.round(now - call.sentAt)));
      }
    }
    if (this.calls.size === 0) {
      // Nothing in flight: forget refusals too (a call sent later waits `silentAfterMs` to be judged), so nodes that
      // never come back are not remembered forever.
      this.refused.clear();
      this.stop();
    }
  };
}
