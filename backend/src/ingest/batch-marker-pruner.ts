import type { Logger } from "../logging/logger.ts";
import type { IngestRepository } from "./ingest-repository.ts";

/** Options of the batch-marker pruner (fields of the ingestion writer's options). */
export interface BatchMarkerPrunerOptions {
  repository: IngestRepository;
  logger: Logger;
  /** How long a batch marker is kept at least (default 1 h); see `olderThanMs()` for the in-flight bound. */
  retentionMs?: number;
  /** Least time between two prunes (default 60,000 ms). */
  intervalMs?: number;
  /** Clock, for tests (default `Date.now`). */
  now?: () => number;
}

// Markers are stamped with PostgreSQL's clock and batches with this process's: this much skew is tolerated.
const CLOCK_SKEW_MARGIN_MS = 60_000;

/**
 * Keeps the `ingest_batches` marker table small: at most once per `intervalMs`, after a successful write, deletes
 * markers older than the retention. A marker must outlive every retry of its batch (else a late retry of a batch
 * that had committed would store it again), so the cut-off also stays behind the oldest batch this writer still
 * holds, however long an outage has kept it retrying.
 */
export class BatchMarkerPruner {
  private readonly repository: IngestRepository;
  private readonly logger: Logger;
  private readonly retentionMs: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly inFlight = new Map<string, number>();
  private lastPruneAt = Number.NEGATIVE_INFINITY;
  private running: Promise<void> | undefined;
  private deleted = 0;

  constructor(options: BatchMarkerPrunerOptions) {
    this.repository = options.repository;
    this.logger = options.logger;
    this.retentionMs = options.retentionMs ?? 3_600_000;
    this.intervalMs = options.intervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Records that batch `batchId` was formed and may be (re)sent until `settled(batchId)`. */
  formed(batchId: string): void {
    this.inFlight.set(batchId, this.now());
  }

  /** Records that batch `batchId` will never be sent again (durable, rejected or abandoned). */
  settled(batchId: string): void {
    this.inFlight.delete(batchId);
  }

  /** The age beyond which markers are deleted now: the retention, or more while an older batch is still held. */
  olderThanMs(): number {
    const now = this.now();
    let oldest = now;
    for (const formedAt of this.inFlight.values()) oldest = Math.min(oldest, formedAt);
    return Math.max(this.retentionMs, now - oldest + CLOCK_SKEW_MARGIN_MS);
  }

  /** Starts a prune in the background if the last one is `intervalMs` old; a failure is logged and retried next interval. */
  maybePrune(): void {
    const now = this.now();
    if (this.running || now - this.lastPruneAt < this.intervalMs) return;
    this.lastPruneAt = now;
    const olderThanMs = this.olderThanMs();
    this.running = this.repository
      .pruneBatchMarkers(olderThanMs)
      .then(
        (deleted) => {
          this.deleted += deleted;
          if (deleted > 0) this.logger.debug({ deleted, olderThanMs }, "ingestion: pruned batch markers");
        },
        (error: unknown) => {
          this.logger.warn(
            { err: error instanceof Error ? error.message : String(error) },
            "ingestion: pruning batch markers failed; retrying next interval",
          );
        },
      )
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Resolves when no prune is running. */
  async idle(): Promise<void> {
    await this.running;
  }

  /** Markers deleted since start. */
  prunedMarkers(): number {
    return this.deleted;
  }
}
