import { withTimeout } from "../lib/with-timeout.ts";
import type { Logger } from "../logging/logger.ts";
import type { AlertTransition } from "../monitoring/alert-state.ts";
import type { RedisClient } from "../redis/redis-connections.ts";
import { appendCapped, newestEntries } from "./stream-entries.ts";

/** One alert transition as the shared history keeps it. */
export interface AlertHistoryEntry {
  id: string;
  /** ISO time it was recorded. */
  at: string;
  alert: string;
  severity: string;
  state: "firing" | "resolved";
  /** ISO time the condition started (firing) or stopped (resolved) holding. */
  since: string;
  value: number | null;
  threshold: number;
  message: string;
  /** The instance that recorded it (ALERT_INSTANCE). */
  instance: string;
}

/** Options of an `AlertHistory`. */
export interface AlertHistoryOptions {
  redis: RedisClient;
  /** The stream key (OpsKeys.alertHistory()). */
  key: string;
  /** MAXLEN of the stream (ALERT_HISTORY_MAX_ENTRIES, default 1,000). */
  maxEntries: number;
  instance: string;
  logger?: Logger;
  timeoutMs?: number;
}

/**
 * The capped alert history in Redis (a stream with MAXLEN): every fired and resolved transition of every instance,
 * so the admin route and the CLI on any machine show the same history. Appends never reject.
 */
export class AlertHistory {
  private lastWarnAt = 0;

  constructor(private readonly options: AlertHistoryOptions) {}

  /** Appends transitions (in order); failures are logged at most once a minute. */
  async record(transitions: AlertTransition[]): Promise<void> {
    for (const transition of transitions) {
      const fields = {
        alert: transition.id,
        severity: transition.severity,
        state: transition.state,
        since: new Date(transition.since).toISOString(),
        value: transition.value === null ? "" : String(transition.value),
        threshold: String(transition.threshold),
        message: transition.message,
        instance: this.options.instance,
      };
      try {
        await withTimeout(
          appendCapped(this.options.redis, this.options.key, this.options.maxEntries, fields),
          this.options.timeoutMs ?? 1_000,
          "alert history append",
        );
      } catch (error) {
        if (Date.now() - this.lastWarnAt > 60_000) {
          this.lastWarnAt = Date.now();
          this.options.logger?.warn(
            { err: error instanceof Error ? error.message : String(error) },
            "alert history append failed",
          );
        }
        return;
      }
    }
  }

  /** The newest transitions first, at most `limit`. */
  async recent(limit: number): Promise<AlertHistoryEntry[]> {
    const entries = await newestEntries(this.options.redis, this.options.key, { limit });
    return entries.map(({ id, fields }) => ({
      id,
      at: new Date(Number(id.split("-")[0])).toISOString(),
      alert: fields.alert ?? "",
      severity: fields.severity ?? "",
      state: fields.state === "resolved" ? "resolved" : "firing",
      since: fields.since ?? "",
      value: fields.value === undefined || fields.value === "" ? null : Number(fields.value),
      threshold: Number(fields.threshold ?? 0),
      message: fields.message ?? "",
      instance: fields.instance ?? "",
    }));
  }
}
