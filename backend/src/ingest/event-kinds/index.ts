import type { Prisma } from "../../generated/prisma/client.ts";
import type { IngestEvent, IngestEventKind, IngestEventOf } from "../event-records.ts";
import type { EventKindDefinition } from "./event-kind-definition.ts";
import { memberJoinKind } from "./member-join.ts";
import { messageDeleteKind } from "./message-delete.ts";
import { messageKind } from "./message.ts";
import { presenceKind } from "./presence.ts";
import { roleChangeKind } from "./role-change.ts";
import { typingKind } from "./typing.ts";

/**
 * Every event kind SpyWatcher stores, one definition each, in a stable order (per-table queues, stats). The
 * compiler refuses a kind of `IngestEvent` without an entry here, and an entry that is not a kind of `IngestEvent`.
 */
export const EVENT_KINDS = {
  message: messageKind,
  messageDelete: messageDeleteKind,
  typing: typingKind,
  presence: presenceKind,
  roleChange: roleChangeKind,
  memberJoin: memberJoinKind,
} as const satisfies { [K in IngestEventKind]: EventKindDefinition<IngestEventOf<K>> };

/** Every kind, in the order of `EVENT_KINDS`. */
export const INGEST_EVENT_KINDS: readonly IngestEventKind[] = Object.keys(EVENT_KINDS) as IngestEventKind[];

/** True when `value` names an event kind (e.g. a kind read back from a spill file). */
export function isIngestEventKind(value: unknown): value is IngestEventKind {
  return typeof value === "string" && Object.hasOwn(EVENT_KINDS, value);
}

/** The definition of one kind, typed for its records. */
export function eventKind<K extends IngestEventKind>(kind: K): EventKindDefinition<IngestEventOf<K>> {
  // TypeScript cannot relate a generic key to the matching value of the map: the `satisfies` above proves it.
  return EVENT_KINDS[kind] as unknown as EventKindDefinition<IngestEventOf<K>>;
}

/** The guarded insert of one batch of `kind` (see `EventKindDefinition.guardedInsert`). */
export function guardedInsertSql<K extends IngestEventKind>(kind: K, records: readonly IngestEventOf<K>[]): Prisma.Sql {
  return eventKind(kind).guardedInsert(records);
}

/** A record of `kind` read back from JSON, with its time fields turned back into Dates. */
export function reviveRecordDates(kind: IngestEventKind, record: IngestEvent): IngestEvent {
  const revived: Record<string, unknown> = { ...record };
  for (const field of Object.keys(eventKind(kind).dateFields)) {
    if (typeof revived[field] === "string") revived[field] = new Date(revived[field] as string);
  }
  return revived as unknown as IngestEvent;
}
