import type { Logger } from "../logging/logger.ts";
import type { AlertEvaluation, AlertRule, AlertSeverity } from "./alert-rules.ts";
import type { AlertSample, AlertSampler } from "./alert-sample.ts";
import { AlertStateTracker, type AlertState, type AlertTransition } from "./alert-state.ts";
import type { AlertWebhook, AlertWebhookStats } from "./alert-webhook.ts";

/** Defaults of `AlertMonitorOptions`; the ALERT_EVAL_INTERVAL_MS, ALERT_WINDOW_MS and ALERT_WEBHOOK_REPEAT_MS defaults of config/config.ts are these. */
export const ALERT_MONITOR_DEFAULTS = { intervalMs: 15_000, windowMs: 300_000, repeatMs: 3_600_000 } as const;

/** Options of an `AlertMonitor`. */
export interface AlertMonitorOptions {
  rules: AlertRule[];
  /** Reads the sources once per evaluation. */
  sample: AlertSampler;
  logger: Logger;
  /** Time between evaluations once started, in ms (ALERT_EVAL_INTERVAL_MS, default 15,000). */
  intervalMs?: number;
  /** How far back counters are compared (increases, hit rate), in ms (ALERT_WINDOW_MS, default 300,000). */
  windowMs?: number;
  /** Where transitions are POSTed; omitted: they are only logged. Closed by `close()`. */
  webhook?: AlertWebhook | undefined;
  /** A still-firing alert is POSTed again (state `firing`) this long after it was last sent, in ms (ALERT_WEBHOOK_REPEAT_MS, default 3,600,000). */
  repeatMs?: number;
  /** Names this instance in webhook payloads (ALERT_INSTANCE, default "unknown"; the service uses `<hostname>:<PORT>`). */
  instance?: string;
  /** Called with every evaluation's transitions (and the resolutions at close), e.g. the shared alert history; not awaited. */
  onTransitions?: ((transitions: AlertTransition[]) => Promise<void> | void) | undefined;
  /** The clock, epoch ms (default `Date.now`); tests inject their own and call `evaluate()` themselves. */
  now?: () => number;
}

/** One rule in `GET /api/admin/alerts`. */
export interface AlertReportEntry {
  id: string;
  severity: AlertSeverity;
  state: AlertState;
  /** ISO time the rule entered its state. */
  since: string;
  value: number | null;
  threshold: number;
  message: string;
  description: string;
}

/** The answer of `GET /api/admin/alerts`. */
export interface AlertReport {
  alerts: AlertReportEntry[];
  /** ISO time of the last evaluation; null before the first. */
  evaluatedAt: string | null;
  /** Delivery counters of the webhook; null when none is configured. */
  webhook: AlertWebhookStats | null;
}

/** The JSON body POSTed to the webhook after an evaluation that changed something, a repeat, or the last one at close. */
export interface AlertWebhookPayload {
  source: "spywatcher";
  instance: string;
  sentAt: string;
  /** Present (true) only on the body sent by `close()`: the instance stops, its firing alerts are resolved. */
  stopping?: true;
  alerts: (Omit<AlertTransition, "since"> & { since: string })[];
}

/**
 * Evaluates the alert rules every `intervalMs` on a fresh sample of the service (cache, Redis memory, Discord side,
 * readiness checks, WebSocket endpoint), keeps each rule's `for` state, logs every transition (warn for warnings,
 * error for criticals, info when resolved) and hands transitions to the webhook without waiting for it.
 */
export class AlertMonitor {
  private readonly rules: AlertRule[];
  private readonly sample: AlertSampler;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly windowMs: number;
  private readonly webhook: AlertWebhook | undefined;
  private readonly repeatMs: number;
  private readonly instance: string;
  private readonly now: () => number;
  private readonly onTransitions: AlertMonitorOptions["onTransitions"];
  private readonly tracker: AlertStateTracker;
  /** Samples within the window, oldest first; counter rules compare the newest with the oldest that has their reading. */
  private history: AlertSample[] = [];
  /** Epoch ms each firing rule was last POSTed (firing or repeat), for the repeat interval. */
  private readonly lastSent = new Map<string, number>();
  private evaluatedAt: number | null = null;
  private inFlight: Promise<AlertReport> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: AlertMonitorOptions) {
    this.rules = options.rules;
    this.sample = options.sample;
    this.logger = options.logger;
    this.intervalMs = options.intervalMs ?? ALERT_MONITOR_DEFAULTS.intervalMs;
    this.windowMs = options.windowMs ?? ALERT_MONITOR_DEFAULTS.windowMs;
    this.webhook = options.webhook;
    this.repeatMs = options.repeatMs ?? ALERT_MONITOR_DEFAULTS.repeatMs;
    this.instance = options.instance ?? "unknown";
    this.now = options.now ?? Date.now;
    this.onTransitions = options.onTransitions;
    this.tracker = new AlertStateTracker(this.rules, this.now());
  }

  /** Evaluates now and then every `intervalMs` (timers unref'd: they never keep the process alive). */
  start(): void {
    if (this.closed || this.timer) return;
    const tick = () => {
      void this.evaluate().finally(() => {
        if (this.closed) return;
        this.timer = setTimeout(tick, this.intervalMs);
        this.timer.unref();
      });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  /** Takes a sample and evaluates every rule now; calls made while one runs share it. Never rejects. */
  evaluate(): Promise<AlertReport> {
    this.inFlight ??= this.evaluateOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Every rule's state after the last evaluation. */
  report(): AlertReport {
    return {
      alerts: this.tracker.statuses().map((status) => ({
        id: status.id,
        severity: status.severity,
        state: status.state,
        since: new Date(status.since).toISOString(),
        value: status.value,
        threshold: status.threshold,
        message: status.message,
        description: status.description,
      })),
      evaluatedAt: this.evaluatedAt === null ? null : new Date(this.evaluatedAt).toISOString(),
      webhook: this.webhook?.stats() ?? null,
    };
  }

  /** The newest sample (for the metrics read from it), or undefined before the first evaluation. */
  lastSample(): AlertSample | undefined {
    return this.history.at(-1);
  }

  /**
   * Stops the timer, waits for an evaluation in flight, then queues one last webhook body (`stopping: true`) that
   * resolves every firing alert (nothing will evaluate them any more, so a receiver would otherwise keep them open)
   * and closes the webhook, which waits a bounded time for it to be delivered. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return this.webhook?.close();
    this.closed = true;
    clearTimeout(this.timer);
    await this.inFlight;
    const stoppedAt = this.now();
    const stopped = this.tracker.firing().map((alert) => ({
      ...alert,
      state: "resolved" as const,
      since: stoppedAt,
      message: `instance ${this.instance} stopped: no longer evaluated (last: ${alert.message})`,
    }));
    if (stopped.length > 0) await this.notifyTransitions(stopped);
    if (this.webhook) {
      const now = this.now();
      const firing = this.tracker.firing().map((alert) => ({
        ...alert,
        state: "resolved" as const,
        since: now,
        message: `instance ${this.instance} stopped: no longer evaluated (last: ${alert.message})`,
      }));
      if (firing.length > 0) this.webhook.send({ ...this.payload(firing, now), stopping: true });
      await this.webhook.close();
    }
  }

  private async evaluateOnce(): Promise<AlertReport> {
    const now = this.now();
    let sample: AlertSample;
    try {
      sample = await this.sample(now);
    } catch (error) {
      // The sampler bounds and absorbs each source's failure; reaching here is a bug, not an outage.
      this.logger.error(
        { err: error instanceof Error ? error.message : String(error) },
        "alert evaluation could not take a sample",
      );
      return this.report();
    }
    const earlier = this.history.filter((older) => older.at >= now - this.windowMs && older.at < now);
    this.history = [...earlier, sample];
    const snapshot = { current: sample, earlier, windowMs: this.windowMs };
    const transitions: AlertTransition[] = [];
    for (const rule of this.rules) {
      const transition = this.tracker.apply(rule, this.judge(rule, snapshot), now);
      if (transition) transitions.push(transition);
    }
    this.evaluatedAt = now;
    for (const transition of transitions) this.log(transition);
    if (transitions.length > 0) void this.notifyTransitions(transitions);
    if (this.webhook) this.notify(transitions, now);
    return this.report();
  }

  /** POSTs this evaluation's transitions plus a repeat of every alert still firing whose last POST is `repeatMs` old. */
  private notify(transitions: AlertTransition[], now: number): void {
    const changed = new Set(transitions.map((transition) => transition.id));
    const repeats = this.tracker
      .firing()
      .filter((alert) => !changed.has(alert.id) && now - (this.lastSent.get(alert.id) ?? now) >= this.repeatMs);
    const outgoing = [...transitions, ...repeats];
    for (const alert of outgoing) {
      if (alert.state === "firing") this.lastSent.set(alert.id, now);
      else this.lastSent.delete(alert.id);
    }
    if (outgoing.length > 0) this.webhook!.send(this.payload(outgoing, now));
  }

  private async notifyTransitions(transitions: AlertTransition[]): Promise<void> {
    try {
      await this.onTransitions?.(transitions);
    } catch (error) {
      this.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "alert transitions hook failed",
      );
    }
  }

  private judge(rule: AlertRule, snapshot: Parameters<AlertRule["evaluate"]>[0]): AlertEvaluation {
    try {
      return rule.evaluate(snapshot);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.logger.error({ alert: { id: rule.id }, err: message }, "alert rule failed to evaluate");
      // A broken rule knows nothing: the tracker keeps its state rather than resolving a firing alert.
      return { firing: false, value: null, message: `rule failed: ${message}`, unknown: true };
    }
  }

  private log(transition: AlertTransition): void {
    const fields = {
      alert: {
        id: transition.id,
        severity: transition.severity,
        value: transition.value,
        threshold: transition.threshold,
      },
    };
    if (transition.state === "resolved") {
      this.logger.info(fields, `alert resolved: ${transition.id}: ${transition.message}`);
    } else if (transition.severity === "critical") {
      this.logger.error(fields, `alert firing: ${transition.id}: ${transition.message}`);
    } else if (transition.severity === "low") {
      this.logger.info(fields, `alert firing: ${transition.id}: ${transition.message}`);
    } else {
      this.logger.warn(fields, `alert firing: ${transition.id}: ${transition.message}`);
    }
  }

  private payload(transitions: AlertTransition[], now: number): AlertWebhookPayload {
    return {
      source: "spywatcher",
      instance: this.instance,
      sentAt: new Date(now).toISOString(),
      alerts: transitions.map((transition) => ({ ...transition, since: new Date(transition.since).toISOString() })),
    };
  }
}
