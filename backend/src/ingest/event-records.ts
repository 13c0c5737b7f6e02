/**
 * Plain records of the guild events SpyWatcher stores: what a Discord listener hands to the ingestion writer.
 * One kind per table; no discord.js objects cross this boundary.
 */

/** A message posted in a guild text channel by a human (table message_events). */
export interface MessageRecord {
  kind: "message";
  messageId: string;
  guildId: string;
  channelId: string;
  userId: string;
  contentLength: number;
  createdAt: Date;
}

/** A message deletion; `userId` is null when the bot had not cached the message (table message_delete_events). */
export interface MessageDeleteRecord {
  kind: "messageDelete";
  messageId: string;
  guildId: string;
  channelId: string;
  userId: string | null;
  deletedAt: Date;
}

/** A typing indicator (table typing_events). */
export interface TypingRecord {
  kind: "typing";
  guildId: string;
  channelId: string;
  userId: string;
  startedAt: Date;
}

/** A client platform a member can be present on. */
export type ClientPlatform = "desktop" | "mobile" | "web";

/** A presence change in one guild, with the platforms the user is on (table presence_events). */
export interface PresenceRecord {
  kind: "presence";
  guildId: string;
  userId: string;
  status: string;
  platforms: ClientPlatform[];
  createdAt: Date;
}

/** One role added to or removed from a member (table role_change_events). */
export interface RoleChangeRecord {
  kind: "roleChange";
  guildId: string;
  userId: string;
  roleId: string;
  roleName: string;
  action: "added" | "removed";
  createdAt: Date;
}

/** A member joining, with the account's age at that moment (table member_join_events). */
export interface MemberJoinRecord {
  kind: "memberJoin";
  guildId: string;
  userId: string;
  accountCreatedAt: Date;
  accountAgeDays: number;
  joinedAt: Date;
}

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

/** Every kind, in a stable order (used for per-table queues and stats). */
export const INGEST_EVENT_KINDS = [
  "message",
  "messageDelete",
  "typing",
  "presence",
  "roleChange",
  "memberJoin",
] as const satisfies readonly IngestEventKind[];
