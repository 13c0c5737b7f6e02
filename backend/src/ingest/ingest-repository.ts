import type { PrismaClient } from "../db/prisma-client.ts";
import type { IngestEvent, IngestEventKind, IngestEventOf } from "./event-records.ts";

/** Writes batches of event records to their table. The only module of ingestion that talks to Prisma. */
export interface IngestRepository {
  /** Inserts one batch of records of one kind in one statement; resolves with the number of rows inserted. */
  insertBatch<K extends IngestEventKind>(kind: K, records: IngestEventOf<K>[]): Promise<number>;
}

/** Drops the `kind` discriminator so a record becomes a row. */
function toRow<T extends IngestEvent>(record: T): Omit<T, "kind"> {
  const { kind: _kind, ...row } = record;
  return row;
}

/** Builds the Prisma-backed repository: one `createMany` per batch. */
export function createIngestRepository(prisma: PrismaClient): IngestRepository {
  const insert = async (kind: IngestEventKind, records: IngestEvent[]): Promise<number> => {
    switch (kind) {
      case "message": {
        // skipDuplicates (ON CONFLICT DO NOTHING on message_id) makes a retried batch idempotent:
        // a batch that committed but whose reply was lost is not counted twice.
        const data = (records as IngestEventOf<"message">[]).map(toRow);
        return (await prisma.messageEvent.createMany({ data, skipDuplicates: true })).count;
      }
      case "messageDelete":
        return (await prisma.messageDeleteEvent.createMany({ data: (records as IngestEventOf<"messageDelete">[]).map(toRow) })).count;
      case "typing":
        return (await prisma.typingEvent.createMany({ data: (records as IngestEventOf<"typing">[]).map(toRow) })).count;
      case "presence":
        return (await prisma.presenceEvent.createMany({ data: (records as IngestEventOf<"presence">[]).map(toRow) })).count;
      case "roleChange":
        return (await prisma.roleChangeEvent.createMany({ data: (records as IngestEventOf<"roleChange">[]).map(toRow) })).count;
      case "memberJoin":
        return (await prisma.memberJoinEvent.createMany({ data: (records as IngestEventOf<"memberJoin">[]).map(toRow) })).count;
    }
  };
  return { insertBatch: (kind, records) => insert(kind, records) };
}
