import type { Logger } from "../logging/logger.ts";
import type { IngestEvent, IngestEventKind } from "./event-records.ts";
import type { IngestRepository } from "./ingest-repository.ts";
import type { IngestSpillFile } from "./ingest-spill-file.ts";

/** Defaults of the writer's options; the service's INGEST_* defaults (config/config.ts) are these, written once. */
export const INGESTION_WRITER_DEFAULTS = {
  batchSize: 2_000,
  flushIntervalMs: 200,
  maxBufferedRows: 50_000,
  retryBaseMs: 100,
  retryMaxMs: 5_000,
  closeTimeoutMs: 10_000,
} as const;

/** Options of the ingestion writer; every field but `repository` and `logger` has a default. */
export interface IngestionWriterOptions {
  /** Where batches go (the Prisma repository in the service). */
  repository: IngestRepository;
  logger: Logger;
  /** Called once per guild of each durable batch, with the kinds and number of events that batch held for that guild. */
  onDurable?: (guildId: string, kinds: IngestEventKind[], events: number) => void;
  /** Called once per durable batch with its rows (the activity recorder); must return at once and not throw. */
  onDurableRows?: (kind: IngestEventKind, rows: readonly IngestEvent[]) => void;
  /** Rows per insert statement; a table is written as soon as it has this many rows (default 2,000). */
  batchSize?: number;
  /** Longest time a row waits in the buffer before its table is written (default 200 ms). */
  flushIntervalMs?: number;
  /** Most rows held in memory (queued plus being retried); beyond it new rows are dropped and counted (default 50,000). */
  maxBufferedRows?: number;
  /** Batches of one table written at the same time while rows keep coming (default 2: one in flight, one being built is not enough under load). */
  concurrentBatchesPerTable?: number;
  /** First retry delay after a failed write; doubles per attempt (default 100 ms). */
  retryBaseMs?: number;
  /** Ceiling of the retry delay (default 5,000 ms). */
  retryMaxMs?: number;
  /** Where `close()` puts rows PostgreSQL did not take in time, replayed at the next start (unset: they are only counted). */
  spill?: Pick<IngestSpillFile, "write">;
  /** How long `close()` keeps retrying to drain the buffer before giving the rest up, counted and logged (default 10,000 ms). */
  closeTimeoutMs?: number;
  /** Least age of a batch marker (ingest_batches row) before it is pruned; kept longer while an older batch of this writer is still retried (default 3,600,000 ms = 1 h). */
  batchMarkerRetentionMs?: number;
  /** Least time between two prunes of old batch markers, each run after a successful write (default 60,000 ms). */
  batchMarkerPruneIntervalMs?: number;
}

/** Counters of the writer since it started. */
export interface IngestStats {
  /** Rows accepted into the buffer. */
  accepted: number;
  /** Rows durably written. */
  written: number;
  /** Successful insert statements. */
  batches: number;
  /** Insert statements that failed (each is retried, or split when the data is bad). */
  failedAttempts: number;
  /** Retries scheduled after a failure. */
  retried: number;
  /** Rows refused because the buffer was full (or the writer closed). */
  dropped: number;
  /** Rows PostgreSQL refused as invalid, isolated one by one and logged. */
  rejected: number;
  /** Rows `close()` could neither write nor spill (no spill configured, or the spill write failed): lost, counted. */
  abandonedOnClose: number;
  /** Rows `close()` wrote to the spill file because PostgreSQL did not take them in time; replayed at the next start. */
  spilled: number;
  /** Retried batches found already stored (an earlier attempt committed, its reply was lost): nothing was written twice. */
  replayedBatches: number;
  /** Batch markers deleted by pruning. */
  prunedMarkers: number;
  /** Rows held right now (queued plus in flight). */
  buffered: number;
}
