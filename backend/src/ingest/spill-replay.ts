import type { Logger } from "../logging/logger.ts";
import type { IngestEventKind } from "./event-records.ts";
import type { IngestRepository } from "./ingest-repository.ts";
import type { IngestSpillFile } from "./ingest-spill-file.ts";
import { retry } from "../lib/retry.ts";
import { isPermanentWriteError, writeBackoff } from "./write-errors.ts";

/** What a replay did. */
export interface SpillReplayStats {
  files: number;
  batches: number;
  /** Rows of batches written now. */
  rows: number;
  /** Batches found already stored (their last attempt before shutdown had committed): nothing written twice. */
  alreadyStored: number;
  /** Lines skipped because they were torn or corrupt. */
  badLines: number;
  /** Batches PostgreSQL refused as invalid (logged). */
  rejected: number;
}

/** Options of `replaySpill`. */
export interface SpillReplayOptions {
  spill: IngestSpillFile;
  repository: IngestRepository;
  logger: Logger;
  /** Called for each written batch, as the writer does for durable rows (cache invalidation). */
  onDurable?: (guildId: string, kinds: IngestEventKind[], events: number) => void;
  retryBaseMs: number;
  retryMaxMs: number;
}

/** A replay running in the background. */
export interface RunningSpillReplay {
  done: Promise<SpillReplayStats>;
  /** Ends it without waiting for an attempt in flight (a file not finished stays for next time); returns the stats so far. */
  stop(): SpillReplayStats;
}

/**
 * Replays the spill files left by earlier shutdowns: each batch is inserted under its original id (ingest_batches
 * makes a batch that did commit a no-op), retried with back-off while PostgreSQL is down, and a file is removed once
 * every batch in it is stored. Runs beside ingestion; stopping it leaves unfinished files for the next start.
 */
export function replaySpill(options: SpillReplayOptions): RunningSpillReplay {
  const { spill, repository, logger } = options;
  const stats: SpillReplayStats = { files: 0, batches: 0, rows: 0, alreadyStored: 0, badLines: 0, rejected: 0 };
  // Aborted by stop(): a wait between attempts ends at once and no attempt follows.
  const stopping = new AbortController();

  const insert = async (
    batch: Awaited<ReturnType<IngestSpillFile["readAll"]>>[number]["batches"][number],
  ): Promise<boolean> => {
    if (stopping.signal.aborted) return false;
    try {
      const result = await retry(() => repository.insertBatch(batch.kind, batch.rows as never, batch.batchId), {
        backoff: writeBackoff(options.retryBaseMs, options.retryMaxMs),
        signal: stopping.signal,
        shouldRetry: (error) => !isPermanentWriteError(error),
        onRetry: (error, attempt) => {
          if (attempt === 1 || attempt % 10 === 0) {
            logger.warn(
              { batchId: batch.batchId, attempt, err: error instanceof Error ? error.message : String(error) },
              "spill replay: write failed; retrying",
            );
          }
        },
      });
      if (result.replayed) stats.alreadyStored += 1;
      else {
        stats.rows += batch.rows.length;
        notify(batch.kind, batch.rows);
      }
      stats.batches += 1;
      return true;
    } catch (error) {
      if (!isPermanentWriteError(error)) return false; // stopped while PostgreSQL was failing
      stats.rejected += 1;
      logger.error(
        { batchId: batch.batchId, kind: batch.kind, rows: batch.rows.length, err: error },
        "spill replay: PostgreSQL rejected a batch; it is not retried",
      );
      return true;
    }
  };

  const notify = (kind: IngestEventKind, rows: { guildId: string }[]) => {
    if (!options.onDurable) return;
    const perGuild = new Map<string, number>();
    for (const row of rows) perGuild.set(row.guildId, (perGuild.get(row.guildId) ?? 0) + 1);
    for (const [guildId, events] of perGuild) options.onDurable(guildId, [kind], events);
  };

  const done = (async () => {
    let files: Awaited<ReturnType<typeof spill.readAll>>;
    try {
      files = await spill.readAll();
    } catch (error) {
      logger.error({ dir: spill.dir, err: error }, "spill replay: cannot read the spill directory");
      return stats;
    }
    if (files.length === 0) return stats;
    const pending = files.reduce((n, file) => n + file.batches.reduce((m, batch) => m + batch.rows.length, 0), 0);
    logger.info(
      { dir: spill.dir, files: files.length, rows: pending },
      "spill replay: replaying rows spilled at an earlier shutdown",
    );
    for (const file of files) {
      stats.badLines += file.badLines;
      if (file.badLines > 0)
        logger.error(
          { file: file.file, badLines: file.badLines },
          "spill replay: torn or corrupt lines skipped (file kept as .bad)",
        );
      for (const batch of file.batches) if (!(await insert(batch))) return stats;
      await spill.retire(file);
      stats.files += 1;
    }
    logger.info({ ...stats }, "spill replay: done");
    return stats;
  })();

  return {
    done,
    stop() {
      stopping.abort();
      return { ...stats };
    },
  };
}
