import { randomUUID } from "node:crypto";
import type { Logger } from "../logging/logger.ts";
import { BatchMarkerPruner } from "./batch-marker-pruner.ts";
import { INGEST_EVENT_KINDS } from "./event-kinds/index.ts";
import type { IngestEvent, IngestEventKind } from "./event-records.ts";
import type { SpilledBatch } from "./ingest-spill-file.ts";
import type { IngestRepository } from "./ingest-repository.ts";
import {
  INGESTION_WRITER_DEFAULTS,
  type IngestionWriterOptions,
  type IngestStats,
} from "./ingestion-writer-options.ts";
import { backoffDelayMs, sleep } from "../lib/retry.ts";
import { isPermanentWriteError, writeBackoff } from "./write-errors.ts";
import { WriteOutageLog } from "./write-outage-log.ts";

export type { IngestionWriterOptions, IngestStats } from "./ingestion-writer-options.ts";

const LOG_EVERY_MS = 5_000;

/** One insert statement's worth of rows, with the id every attempt of it carries (see ingest-repository.ts). */
interface PendingBatch {
  id: string;
  kind: IngestEventKind;
  rows: IngestEvent[];
}

/**
 * Batches event records per table and writes them through the repository: a table is written when it holds
 * `batchSize` rows or its oldest row is `flushIntervalMs` old; failed writes are retried with exponential backoff
 * while rows keep arriving in a bounded buffer. Overflow is counted and logged, never silent. A batch is retried as
 * the same unit with the same id, so a retry after a lost reply (the batch had committed) stores nothing twice.
 */
export class IngestionWriter {
  private readonly repository: IngestRepository;
  private readonly logger: Logger;
  private readonly onDurable: IngestionWriterOptions["onDurable"];
  private readonly onDurableRows: IngestionWriterOptions["onDurableRows"];
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxBufferedRows: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly closeTimeoutMs: number;
  private readonly concurrentBatchesPerTable: number;
  private readonly markers: BatchMarkerPruner;
  private readonly spill: IngestionWriterOptions["spill"];
  /** Batches formed and not yet settled (being written or waiting for a retry), by id. */
  private readonly unsettled = new Map<string, PendingBatch>();
  /** Batches handed to the spill at close: a late answer of their last attempt changes nothing. */
  private readonly handedOff = new Set<string>();

  private readonly queues = new Map<IngestEventKind, IngestEvent[]>(INGEST_EVENT_KINDS.map((kind) => [kind, []]));
  private readonly loops = new Map<IngestEventKind, Set<Promise<void>>>(
    INGEST_EVENT_KINDS.map((kind) => [kind, new Set()]),
  );
  /** Aborted when `close()` gives up: every back-off wait ends at once, and every later one is skipped. */
  private readonly stopWaiting = new AbortController();
  private readonly outage: WriteOutageLog;
  private readonly counters = {
    accepted: 0,
    written: 0,
    batches: 0,
    failedAttempts: 0,
    retried: 0,
    dropped: 0,
    rejected: 0,
    abandonedOnClose: 0,
    spilled: 0,
    replayedBatches: 0,
  };
  private buffered = 0;
  private timer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private givingUp = false;
  private lastOverflowLog = 0;
  private droppedSinceLog = 0;

  constructor(options: IngestionWriterOptions) {
    this.repository = options.repository;
    this.logger = options.logger;
    this.onDurable = options.onDurable;
    this.onDurableRows = options.onDurableRows;
    this.batchSize = options.batchSize ?? INGESTION_WRITER_DEFAULTS.batchSize;
    this.flushIntervalMs = options.flushIntervalMs ?? INGESTION_WRITER_DEFAULTS.flushIntervalMs;
    this.maxBufferedRows = options.maxBufferedRows ?? INGESTION_WRITER_DEFAULTS.maxBufferedRows;
    this.retryBaseMs = options.retryBaseMs ?? INGESTION_WRITER_DEFAULTS.retryBaseMs;
    this.retryMaxMs = options.retryMaxMs ?? INGESTION_WRITER_DEFAULTS.retryMaxMs;
    this.closeTimeoutMs = options.closeTimeoutMs ?? INGESTION_WRITER_DEFAULTS.closeTimeoutMs;
    this.concurrentBatchesPerTable = options.concurrentBatchesPerTable ?? 2;
    this.spill = options.spill;
    this.outage = new WriteOutageLog(options.logger, LOG_EVERY_MS);
    this.markers = new BatchMarkerPruner({
      repository: options.repository,
      logger: options.logger,
      retentionMs: options.batchMarkerRetentionMs,
      intervalMs: options.batchMarkerPruneIntervalMs,
    });
  }

  /** Buffers one record; false when it was dropped (buffer full or writer closed), which is counted and logged. */
  write(event: IngestEvent): boolean {
    if (this.closing || this.buffered >= this.maxBufferedRows) {
      this.recordDrop();
      return false;
    }
    const queue = this.queues.get(event.kind)!;
    queue.push(event);
    this.buffered += 1;
    this.counters.accepted += 1;
    if (queue.length >= this.batchSize) void this.drain(event.kind);
    else this.armTimer();
    return true;
  }

  /** Writes every buffered row (retrying through failures) and resolves when they are durable or rejected. */
  async flush(): Promise<void> {
    await Promise.all(INGEST_EVENT_KINDS.map((kind) => this.drain(kind)));
    await this.markers.idle();
  }

  /**
   * Stops accepting rows and drains the buffer for at most `closeTimeoutMs`. Rows still unwritten then (PostgreSQL
   * down or hung) are handed to the spill file under their batch ids without waiting for attempts in flight, counted
   * (`spilled`) and logged; without a spill, or if it fails, they are counted as `abandonedOnClose`. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.timer);
      this.timer = undefined;
      let deadline: NodeJS.Timeout | undefined;
      const outOfTime = new Promise<false>(
        (resolve) => (deadline = setTimeout(() => resolve(false), this.closeTimeoutMs)),
      );
      const drained = await Promise.race([this.flush().then(() => true as const), outOfTime]);
      clearTimeout(deadline);
      if (drained) return;
      this.givingUp = true;
      this.stopWaiting.abort();
      await this.spillUnwritten();
    })();
    return this.closing;
  }

  /** A snapshot of the counters. */
  stats(): IngestStats {
    return { ...this.counters, prunedMarkers: this.markers.prunedMarkers(), buffered: this.buffered };
  }

  /** Takes every row not yet durable out of the writer (at once, before any loop resumes) and spills it. */
  private async spillUnwritten(): Promise<void> {
    const batches: SpilledBatch[] = [];
    for (const batch of this.unsettled.values()) {
      this.handedOff.add(batch.id);
      batches.push({ batchId: batch.id, kind: batch.kind, rows: batch.rows });
    }
    this.unsettled.clear();
    for (const kind of INGEST_EVENT_KINDS) {
      const queue = this.queues.get(kind)!;
      while (queue.length > 0) batches.push({ batchId: randomUUID(), kind, rows: queue.splice(0, this.batchSize) });
    }
    const rows = batches.reduce((sum, batch) => sum + batch.rows.length, 0);
    this.buffered -= rows;
    if (rows === 0) return;
    if (!this.spill) {
      this.counters.abandonedOnClose += rows;
      this.logger.error(
        { abandoned: rows, stats: this.stats() },
        "ingestion closed with rows it could not write (no spill configured)",
      );
      return;
    }
    try {
      const file = await this.spill.write(batches);
      this.counters.spilled += rows;
      this.logger.warn(
        { spilled: rows, batches: batches.length, file, stats: this.stats() },
        "ingestion closed with rows PostgreSQL did not take: spilled to disk, replayed at the next start",
      );
    } catch (error) {
      this.counters.abandonedOnClose += rows;
      this.logger.error(
        { abandoned: rows, err: error, stats: this.stats() },
        "ingestion closed with rows it could neither write nor spill",
      );
    }
  }

  private recordDrop(): void {
    this.counters.dropped += 1;
    this.droppedSinceLog += 1;
    const now = Date.now();
    // Overflow happens row by row during an outage: one log line per interval with the count, not one per row.
    if (now - this.lastOverflowLog >= LOG_EVERY_MS) {
      this.logger.error(
        {
          dropped: this.droppedSinceLog,
          totalDropped: this.counters.dropped,
          buffered: this.buffered,
          maxBufferedRows: this.maxBufferedRows,
          closing: Boolean(this.closing),
        },
        "ingestion buffer full: dropping events",
      );
      this.lastOverflowLog = now;
      this.droppedSinceLog = 0;
    }
  }

  private armTimer(): void {
    if (this.timer || this.closing) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      for (const kind of INGEST_EVENT_KINDS) if (this.queues.get(kind)!.length > 0) void this.drain(kind);
    }, this.flushIntervalMs);
  }

  /**
   * Starts write loops for a table, up to `concurrentBatchesPerTable`, and resolves when every loop of the table has
   * emptied its queue. Each loop writes one batch at a time until the queue is empty.
   */
  private drain(kind: IngestEventKind): Promise<void> {
    const loops = this.loops.get(kind)!;
    const queue = this.queues.get(kind)!;
    while (loops.size < this.concurrentBatchesPerTable && queue.length > 0) {
      const loop = this.writeLoop(kind, queue);
      loops.add(loop);
      const remove = () => void loops.delete(loop);
      loop.then(remove, remove);
    }
    return Promise.all(loops).then(() => undefined);
  }

  private async writeLoop(kind: IngestEventKind, queue: IngestEvent[]): Promise<void> {
    // Rows that arrive while a batch is in flight form the next batch (group commit), so batches grow with load.
    while (queue.length > 0) {
      if (this.givingUp) {
        // close() ran out of time with the database still failing: count what is left instead of trying each batch.
        this.counters.abandonedOnClose += queue.length;
        this.settle(queue.splice(0).length);
        return;
      }
      await this.writeWithRetry(kind, this.formBatch(kind, queue.splice(0, this.batchSize)));
    }
  }

  private formBatch(kind: IngestEventKind, rows: IngestEvent[]): PendingBatch {
    const batch = { id: randomUUID(), kind, rows };
    this.unsettled.set(batch.id, batch);
    this.markers.formed(batch.id);
    return batch;
  }

  /** Sends one batch until it is durable, rejected or abandoned; every attempt carries the batch's id and rows. */
  private async writeWithRetry(kind: IngestEventKind, batch: PendingBatch): Promise<void> {
    const { rows } = batch;
    for (let attempt = 1; ; attempt += 1) {
      if (this.handedOff.has(batch.id)) return;
      try {
        const result = await this.repository.insertBatch(kind, rows as never, batch.id);
        if (this.handedOff.has(batch.id)) return;
        // A replay means an earlier attempt committed and only its reply was lost: the rows are durable, once.
        if (result.replayed) this.counters.replayedBatches += 1;
        this.settle(rows.length, batch);
        this.counters.written += rows.length;
        this.counters.batches += 1;
        this.outage.succeeded(attempt, this.buffered);
        this.reportDurable(kind, rows);
        this.markers.maybePrune();
        return;
      } catch (error) {
        if (this.handedOff.has(batch.id)) return;
        this.counters.failedAttempts += 1;
        if (isPermanentWriteError(error)) {
          this.settle(0, batch);
          await this.isolateBadRows(kind, rows, error);
          return;
        }
        if (this.givingUp) {
          this.counters.abandonedOnClose += rows.length;
          this.settle(rows.length, batch);
          return;
        }
        this.outage.failed(kind, attempt, this.buffered, error);
        this.counters.retried += 1;
        await sleep(
          backoffDelayMs(attempt, writeBackoff(this.retryBaseMs, this.retryMaxMs)),
          this.stopWaiting.signal,
        ).catch(() => undefined);
      }
    }
  }

  /**
   * Bad data fails the whole statement, marker included, so nothing of the batch was stored: split it until the bad
   * rows stand alone and write the rest, each part a new batch with its own id.
   */
  private async isolateBadRows(kind: IngestEventKind, batch: IngestEvent[], error: unknown): Promise<void> {
    if (batch.length === 1) {
      this.counters.rejected += 1;
      this.settle(1);
      this.logger.error(
        { kind, guildId: batch[0]!.guildId, err: error },
        "ingestion: PostgreSQL rejected a row; it is not retried",
      );
      return;
    }
    const middle = Math.ceil(batch.length / 2);
    await this.writeWithRetry(kind, this.formBatch(kind, batch.slice(0, middle)));
    await this.writeWithRetry(kind, this.formBatch(kind, batch.slice(middle)));
  }

  /** `rows` leave the buffer; a settled batch will never be sent again, so its marker may be pruned. */
  private settle(rows: number, batch?: PendingBatch): void {
    this.buffered -= rows;
    if (batch) {
      this.unsettled.delete(batch.id);
      this.markers.settled(batch.id);
    }
  }

  private reportDurable(kind: IngestEventKind, batch: IngestEvent[]): void {
    if (this.onDurableRows) {
      try {
        this.onDurableRows(kind, batch);
      } catch (error) {
        this.logger.error({ err: error, kind }, "ingestion: durable-rows callback failed");
      }
    }
    if (!this.onDurable) return;
    const perGuild = new Map<string, number>();
    for (const event of batch) perGuild.set(event.guildId, (perGuild.get(event.guildId) ?? 0) + 1);
    for (const [guildId, events] of perGuild) {
      try {
        this.onDurable(guildId, [kind], events);
      } catch (error) {
        this.logger.error({ err: error, guildId, kind }, "ingestion: durable-batch callback failed");
      }
    }
  }
}
