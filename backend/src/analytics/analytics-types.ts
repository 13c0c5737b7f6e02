import type { AnalyticsType } from "./analytics-catalog.ts";

/** What every analytic is asked: one guild, one window [since, until), at most `limit` items. */
export interface AnalyticsQuery {
  guildId: string;
  since: Date;
  until: Date;
  limit: number;
}

/** The default and largest `limit` of an analytics request. */
export const DEFAULT_LIMIT = 100;
/** The largest `limit` a request may ask for. */
export const MAX_LIMIT = 500;

/** A window as it appears in JSON. */
export interface WindowJson {
  since: string;
  until: string;
}

/** The stable JSON envelope of every analytic: what was asked, how many items exist, the first `limit` of them. */
export interface AnalyticsEnvelope<T extends AnalyticsType, Item> {
  type: T;
  guildId: string;
  window: WindowJson;
  /** Only for analytics that compare with the window before (clients, shifts). */
  previousWindow?: WindowJson;
  limit: number;
  /** Items before `limit` was applied. */
  total: number;
  /** Items among `total` that are flagged (analytics without flags: 0). */
  flaggedTotal: number;
  items: Item[];
}

/** A user who types but rarely sends: ghostScore = typingCount / (messageCount + 1). */
export interface GhostItem {
  userId: string;
  typingCount: number;
  messageCount: number;
  ghostScore: number;
}

/** A user present in the guild who neither sent nor typed in the window. */
export interface LurkerItem {
  userId: string;
  presenceCount: number;
  lastSeenAt: string;
  /** presenceCount >= 5. */
  flagged: boolean;
}

/** One channel's activity by hour of day (UTC): index 0 is 00:00-00:59. */
export interface HeatmapItem {
  channelId: string;
  messageCount: number;
  typingCount: number;
  messagesByHour: number[];
  typingByHour: number[];
}

/** A user whose roles changed in the window. */
export interface RoleDriftItem {
  userId: string;
  addedCount: number;
  removedCount: number;
  roleChangeCount: number;
  lastChangeAt: string;
  /** roleChangeCount >= 2. */
  flagged: boolean;
}

/** A user's client platforms now and in the window before. */
export interface ClientDriftItem {
  userId: string;
  platforms: string[];
  previousPlatforms: string[];
  newPlatforms: string[];
  /** A platform appeared that was not there in the window before. */
  flagged: boolean;
}

/** A user's activity now against the window before. */
export interface BehaviorShiftItem {
  userId: string;
  messageCount: number;
  previousMessageCount: number;
  typingCount: number;
  previousTypingCount: number;
  /** Had messages before, none now. */
  messageDrop: boolean;
  /** typingCount > 2 x previousTypingCount and previousTypingCount >= 5. */
  typingSpike: boolean;
  /** messageDrop + typingSpike, 0 to 2. */
  score: number;
}

/** Result of the ghosts analytic. */
export type GhostsResult = AnalyticsEnvelope<"ghosts", GhostItem>;
/** Result of the lurkers analytic. */
export type LurkersResult = AnalyticsEnvelope<"lurkers", LurkerItem>;
/** Result of the channel heatmap analytic. */
export type HeatmapResult = AnalyticsEnvelope<"heatmap", HeatmapItem>;
/** Result of the role drift analytic. */
export type RolesResult = AnalyticsEnvelope<"roles", RoleDriftItem>;
/** Result of the client drift analytic. */
export type ClientsResult = AnalyticsEnvelope<"clients", ClientDriftItem>;
/** Result of the behaviour shifts analytic. */
export type ShiftsResult = AnalyticsEnvelope<"shifts", BehaviorShiftItem>;
