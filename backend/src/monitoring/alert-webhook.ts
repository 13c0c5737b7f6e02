import { retry } from "../lib/retry.ts";
import type { Logger } from "../logging/logger.ts";

/** Defaults of `AlertWebhookOptions`; the ALERT_WEBHOOK_* defaults of config/config.ts are these. */
export const ALERT_WEBHOOK_DEFAULTS = { timeoutMs: 5_000, retries: 3 } as const;

/** Options of an `AlertWebhook`. */
export interface AlertWebhookOptions {
  /** Where payloads are POSTed (ALERT_WEBHOOK_URL). It may carry a token: only its origin is ever logged. */
  url: string;
  /** Bound of one attempt, in ms (ALERT_WEBHOOK_TIMEOUT_MS, default 5,000). */
  timeoutMs?: number;
  /** Attempts after the first failed one (ALERT_WEBHOOK_RETRIES, default 3). */
  retries?: number;
  /** Wait before the first retry, doubling for each further one, in ms (default 500). */
  backoffMs?: number;
  /** Payloads waiting at most; older ones are dropped (counted) when more arrive (default 100). */
  maxQueued?: number;
  /** How long `close()` waits for queued payloads (the monitor's last one) before dropping them, in ms (default 1,000). */
  closeGraceMs?: number;
  logger: Logger;
}

/** Delivery counters since start. */
export interface AlertWebhookStats {
  /** The webhook's origin (scheme, host, port): never its path or query, which may hold a token. */
  origin: string;
  delivered: number;
  /** Attempts that failed (timeout, connection error, non-2xx answer, a redirect). */
  failedAttempts: number;
  /** Payloads given up on after every retry, pushed out of a full queue, or left at close. */
  dropped: number;
  queued: number;
}

/**
 * POSTs JSON payloads to the alert webhook one at a time, in order, each attempt bounded by a timeout and retried
 * with doubling back-off. `send` only enqueues, so a slow or dead receiver never delays alert evaluation; failures
 * are counted and logged with the URL's origin only.
 */
export class AlertWebhook {
  readonly origin: string;
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxQueued: number;
  private readonly closeGraceMs: number;
  private readonly logger: Logger;
  private readonly queue: object[] = [];
  private readonly closing = new AbortController();
  /** False once `close()` began: later payloads are ignored, queued ones get the grace period. */
  private accepting = true;
  private worker: Promise<void> | undefined;
  private counts = { delivered: 0, failedAttempts: 0, dropped: 0 };

  constructor(options: AlertWebhookOptions) {
    this.url = options.url;
    this.origin = new URL(options.url).origin;
    this.timeoutMs = options.timeoutMs ?? ALERT_WEBHOOK_DEFAULTS.timeoutMs;
    this.retries = options.retries ?? ALERT_WEBHOOK_DEFAULTS.retries;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxQueued = options.maxQueued ?? 100;
    this.closeGraceMs = options.closeGraceMs ?? 1_000;
    this.logger = options.logger;
  }

  /** Queues `payload` for delivery; returns at once. Ignored once `close()` was called. */
  send(payload: object): void {
    if (!this.accepting) return;
    if (this.queue.length >= this.maxQueued) {
      this.queue.shift();
      this.counts.dropped += 1;
      this.logger.error(
        { webhook: this.origin, maxQueued: this.maxQueued },
        "alert webhook queue full: oldest payload dropped",
      );
    }
    this.queue.push(payload);
    this.kick();
  }

  /** Delivery counters. */
  stats(): AlertWebhookStats {
    return { origin: this.origin, ...this.counts, queued: this.queue.length };
  }

  /** Resolves when every queued payload was delivered or given up on. */
  async whenIdle(): Promise<void> {
    while (this.worker) await this.worker;
  }

  /**
   * Stops taking payloads, waits up to `closeGraceMs` for what is queued to be delivered, then aborts the attempt in
   * flight and drops the rest (counted). Idempotent.
   */
  async close(): Promise<void> {
    this.accepting = false;
    if (this.worker && !this.closing.signal.aborted && this.closeGraceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.closeGraceMs);
      });
      await Promise.race([this.whenIdle(), grace]);
      clearTimeout(timer);
    }
    this.closing.abort();
    await this.whenIdle();
  }

  private kick(): void {
    if (this.worker) return;
    this.worker = this.drain().finally(() => {
      this.worker = undefined;
      // A payload queued while the finished worker was unwinding would otherwise wait for the next send.
      if (this.queue.length > 0 && !this.closing.signal.aborted) this.kick();
    });
  }

  private async drain(): Promise<void> {
    for (let payload = this.queue.shift(); payload; payload = this.queue.shift()) {
      if (this.closing.signal.aborted) {
        this.counts.dropped += 1 + this.queue.length;
        this.queue.length = 0;
        return;
      }
      await this.deliver(payload);
    }
  }

  private async deliver(payload: object): Promise<void> {
    const body = JSON.stringify(payload);
    const of = this.retries + 1;
    try {
      await retry(
        async () => {
          const failure = await this.attempt(body);
          if (failure === undefined) return;
          this.counts.failedAttempts += 1;
          throw new Error(failure);
        },
        {
          attempts: of,
          backoff: { initialMs: this.backoffMs },
          // Closing: the wait ends at once and no attempt follows (close() gives the queue its grace, not its retries).
          signal: this.closing.signal,
          onRetry: (failure, attempt) =>
            this.logger.warn(
              { webhook: this.origin, attempt, of, reason: (failure as Error).message },
              "alert webhook attempt failed: retrying",
            ),
        },
      );
      this.counts.delivered += 1;
    } catch (failure) {
      if (!this.closing.signal.aborted) {
        this.logger.warn(
          { webhook: this.origin, attempt: of, of, reason: (failure as Error).message },
          "alert webhook attempt failed: giving up",
        );
      }
      this.counts.dropped += 1;
      this.logger.error({ webhook: this.origin, dropped: this.counts.dropped }, "alert webhook payload not delivered");
    }
  }

  /** One POST; undefined on a 2xx answer, else why it failed (never the URL's path or query). */
  private async attempt(body: string): Promise<string | undefined> {
    try {
      const response = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        // A 3xx is a misconfigured URL, not a delivery: fetch would otherwise follow it (a POST may become a GET).
        redirect: "error",
        signal: AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
      // Read the body so the connection is released for the next attempt.
      await response.arrayBuffer().catch(() => undefined);
      return response.ok ? undefined : `HTTP ${response.status}`;
    } catch (error) {
      return this.describe(error);
    }
  }

  private describe(error: unknown): string {
    if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
      return this.closing.signal.aborted ? "closed" : `no answer within ${this.timeoutMs} ms`;
    }
    const cause =
      error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
    // undici reports "fetch failed" with the reason in its cause: a code (ECONNREFUSED) or a message ("unexpected redirect").
    const text =
      typeof cause?.code === "string"
        ? cause.code
        : typeof cause?.message === "string"
          ? cause.message
          : error instanceof Error
            ? error.message
            : String(error);
    return text.split(this.url).join(this.origin).slice(0, 200);
  }
}
