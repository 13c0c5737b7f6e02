/**
 * Plain records of the guild events SpyWatcher stores: what a Discord listener hands to the ingestion writer.
 * One kind per table; no discord.js objects cross this boundary. Each record is declared with its table and insert
 * in `event-kinds/<kind>.ts`; this union lists them, and `event-kinds/index.ts` must hold an entry for each.
 */
import type { MemberJoinRecord } from "./event-kinds/member-join.ts";
import type { MessageDeleteRecord } from "./event-kinds/message-delete.ts";
import type { MessageRecord } from "./event-kinds/message.ts";
import type { PresenceRecord } from "./event-kinds/presence.ts";
import type { RoleChangeRecord } from "./event-kinds/role-change.ts";
import type { TypingRecord } from "./event-kinds/typing.ts";

export type { MemberJoinRecord, MessageDeleteRecord, MessageRecord, PresenceRecord, RoleChangeRecord, TypingRecord };
export type { ClientPlatform } from "./event-kinds/presence.ts";

/** Any event record the ingestion writer accepts. */
export type IngestEvent =
  | MessageRecord
  | MessageDeleteRecord
  | TypingRecord
  | PresenceRecord
  | RoleChangeRecord
  | MemberJoinRecord;

/** The kind of an event record; one kind per table. */
export type IngestEventKind = IngestEvent["kind"];

/** The record type of one kind. */
export type IngestEventOf<K extends IngestEventKind> = Extract<IngestEvent, { kind: K }>;
