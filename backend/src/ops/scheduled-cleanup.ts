import { randomBytes } from "node:crypto";
import { RELEASE_IF_OWNER } from "../cache/lock/lock-scripts.ts";
import type { Logger } from "../logging/logger.ts";
import type { RedisClient } from "../redis/redis-connections.ts";
import type { CacheMaintenance, CleanupReport, ScanCursors } from "./cache-maintenance.ts";
import { cleanupRecord, type InvalidationLog } from "./invalidation-log.ts";
import type { OpsKeys } from "./ops-keys.ts";

/** Options of the scheduled cleanup. */
export interface ScheduledCleanupOptions {
  redis: RedisClient;
  maintenance: CacheMaintenance;
  keys: OpsKeys;
  logger: Logger;
  log?: InvalidationLog;
  /** Time between runs, in ms (CLEANUP_INTERVAL_MS, default 300,000; 0: never scheduled). */
  intervalMs: number;
  /** Keys examined per run at most (CLEANUP_MAX_KEYS_PER_RUN, default 5,000); the next run resumes the scan. */
  maxKeysPerRun: number;
}

/** The outcome of one attempt: a report, or why it did not run. */
export type ScheduledRun = { ran: true; report: CleanupReport } | { ran: false; reason: "locked" | "closed" };

/**
 * The service's own `--expired-only` cleanup: every `intervalMs`, one instance at a time (a lock `SET NX PX` in
 * Redis, held for at most twice the interval), examines at most `maxKeysPerRun` keys (the SCAN cursors are kept in
 * `<prefix>:ops:cleanup:last`, so the next run goes on where this one stopped) and logs what it removed.
 */
export class ScheduledCleanup {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ScheduledRun> | undefined;
  private closed = false;

  constructor(private readonly options: ScheduledCleanupOptions) {}

  /** Schedules runs every `intervalMs` (unref'd). No-op when the interval is 0. */
  start(): void {
    if (this.options.intervalMs <= 0 || this.timer || this.closed) return;
    this.timer = setInterval(() => void this.runOnce(), this.options.intervalMs);
    this.timer.unref();
  }

  /** One run now (unless another instance holds the lock); `dryRun` reports without deleting. Never rejects on lock contention. */
  runOnce(options: { dryRun?: boolean } = {}): Promise<ScheduledRun> {
    if (this.closed) return Promise.resolve({ ran: false, reason: "closed" });
    this.running ??= this.run(options.dryRun ?? false)
      .catch((error: unknown) => {
        this.options.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          "scheduled cache cleanup failed",
        );
        throw error;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Stops scheduling and waits for a run in flight. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async run(dryRun: boolean): Promise<ScheduledRun> {
    const { redis, keys, maintenance, logger } = this.options;
    const token = randomBytes(8).toString("hex");
    const holdMs = Math.max(60_000, 2 * this.options.intervalMs);
    if ((await redis.set(keys.cleanupLock(), token, "PX", holdMs, "NX")) !== "OK")
      return { ran: false, reason: "locked" };
    try {
      const last = await redis.get(keys.cleanupLast());
      const cursors: ScanCursors = parseCursors(last);
      const report = await maintenance.expired({ dryRun, maxKeys: this.options.maxKeysPerRun, cursors });
      if (!dryRun) {
        await redis.set(
          keys.cleanupLast(),
          JSON.stringify({ at: new Date().toISOString(), report, cursors }),
          "PX",
          86_400_000,
        );
        if (report.deleted > 0 || report.failed > 0) {
          await this.options.log?.record(
            cleanupRecord("scheduled", `scheduled cleanup (every ${this.options.intervalMs} ms)`, report),
          );
        }
      }
      logger.info(
        {
          cleanup: {
            dryRun,
            scanned: report.scanned,
            invalidated: report.invalidated,
            pastGrace: report.pastGrace,
            deleted: report.deleted,
            bytes: report.bytes,
            failed: report.failed,
            truncated: report.truncated,
            durationMs: report.durationMs,
          },
        },
        `scheduled cache cleanup: ${dryRun ? "would remove" : "removed"} ${dryRun ? report.invalidated + report.pastGrace : report.deleted} of ${report.scanned} entries examined`,
      );
      return { ran: true, report };
    } finally {
      await RELEASE_IF_OWNER.run(redis, [keys.cleanupLock()], [token]).catch(() => undefined);
    }
  }
}

function parseCursors(raw: string | null): ScanCursors {
  if (!raw) return {};
  try {
    const parsed = JSON.parse(raw) as { cursors?: unknown };
    return parsed.cursors && typeof parsed.cursors === "object" ? { ...(parsed.cursors as ScanCursors) } : {};
  } catch {
    return {};
  }
}
