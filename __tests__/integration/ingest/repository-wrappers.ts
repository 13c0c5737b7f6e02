import type { IngestEventKind, IngestEventOf } from "../../../backend/src/ingest/event-records.ts";
import type { IngestRepository } from "../../../backend/src/ingest/ingest-repository.ts";

/** Wraps the real repository: while `down`, or for the next `failNext` calls, a write fails before reaching PostgreSQL. */
export class SwitchableRepository implements IngestRepository {
  down = false;
  failNext = 0;
  calls = 0;
  constructor(private readonly real: IngestRepository) {}

  async insertBatch<K extends IngestEventKind>(kind: K, records: IngestEventOf<K>[]): Promise<number> {
    this.calls += 1;
    if (this.down) throw new Error("injected: database unavailable");
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error("injected: connection reset");
    }
    return this.real.insertBatch(kind, records);
  }
}
