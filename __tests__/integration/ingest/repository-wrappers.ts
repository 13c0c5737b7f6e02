import type { IngestEventKind, IngestEventOf } from "../../../backend/src/ingest/event-records.ts";
import type { BatchInsertResult, IngestRepository } from "../../../backend/src/ingest/ingest-repository.ts";

/** Wraps the real repository: while `down`, or for the next `failNext` calls, a write fails before reaching PostgreSQL. */
export class SwitchableRepository implements IngestRepository {
  down = false;
  failNext = 0;
  calls = 0;
  constructor(private readonly real: IngestRepository) {}

  async insertBatch<K extends IngestEventKind>(
    kind: K,
    records: IngestEventOf<K>[],
    batchId: string,
  ): Promise<BatchInsertResult> {
    this.calls += 1;
    if (this.down) throw new Error("injected: database unavailable");
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error("injected: connection reset");
    }
    return this.real.insertBatch(kind, records, batchId);
  }

  pruneBatchMarkers(olderThanMs: number): Promise<number> {
    return this.real.pruneBatchMarkers(olderThanMs);
  }
}

/** One call the lost-reply wrapper saw. */
export interface SeenInsert {
  kind: IngestEventKind;
  batchId: string;
  rows: number;
  result: BatchInsertResult;
  replyLost: boolean;
}

/**
 * Wraps the real repository: for the first `loseReplies` calls of each kind in `kinds`, the real insert runs and
 * COMMITS, then the call throws as a connection cut after COMMIT would (the writer cannot tell it from a failure).
 */
export class LostReplyRepository implements IngestRepository {
  readonly seen: SeenInsert[] = [];
  private readonly lost = new Map<IngestEventKind, number>();
  constructor(
    private readonly real: IngestRepository,
    private readonly kinds: IngestEventKind[],
    private readonly loseReplies = 1,
  ) {}

  async insertBatch<K extends IngestEventKind>(
    kind: K,
    records: IngestEventOf<K>[],
    batchId: string,
  ): Promise<BatchInsertResult> {
    const result = await this.real.insertBatch(kind, records, batchId);
    const lostSoFar = this.lost.get(kind) ?? 0;
    const replyLost = this.kinds.includes(kind) && lostSoFar < this.loseReplies;
    this.seen.push({ kind, batchId, rows: records.length, result, replyLost });
    if (replyLost) {
      this.lost.set(kind, lostSoFar + 1);
      throw new Error("injected: connection lost after COMMIT, before the reply");
    }
    return result;
  }

  pruneBatchMarkers(olderThanMs: number): Promise<number> {
    return this.real.pruneBatchMarkers(olderThanMs);
  }
}
