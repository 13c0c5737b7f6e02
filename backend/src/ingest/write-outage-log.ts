import type { Logger } from "../logging/logger.ts";
import type { IngestEventKind } from "./event-records.ts";

/**
 * Logs a write outage without flooding: at most one warning per `everyMs` while writes fail, and one info line
 * with the outage's length when a retried write succeeds.
 */
export class WriteOutageLog {
  private failingSince: number | undefined;
  private lastWarning = 0;

  constructor(
    private readonly logger: Logger,
    private readonly everyMs = 5_000,
  ) {}

  /** A write attempt failed and will be retried; `buffered` is the rows held right now. */
  failed(kind: IngestEventKind, attempt: number, buffered: number, error: unknown): void {
    const now = Date.now();
    this.failingSince ??= now;
    if (now - this.lastWarning >= this.everyMs) {
      this.lastWarning = now;
      this.logger.warn(
        { kind, attempt, buffered, err: error instanceof Error ? error.message : String(error) },
        "ingestion write failed: retrying with backoff",
      );
    }
  }

  /** A write succeeded on attempt `attempt`; after an outage, says how long it lasted. */
  succeeded(attempt: number, buffered: number): void {
    if (attempt === 1 || this.failingSince === undefined) return;
    this.logger.info({ outageMs: Date.now() - this.failingSince, buffered }, "ingestion writes recovered");
    this.failingSince = undefined;
    this.lastWarning = 0;
  }
}
