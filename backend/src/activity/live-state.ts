import type { CacheStructures } from "../cache/structures/data-structures.ts";
import { activityKeys, LIVE_PLATFORMS } from "./activity-keys.ts";
import { counterSlot } from "./counter-slots.ts";
import { bucketStart } from "./time-buckets.ts";

/** What a guild looks like right now. */
export interface LiveState {
  guildId: string;
  at: string;
  /** Members online now (any status but offline), in total and per client platform (one member may be on several). */
  online: { total: number; desktop: number; mobile: number; web: number };
  /** Who is typing now, per channel (a typer counts until 10 s after their last typing event). */
  typing: { channelId: string; userIds: string[] }[];
  /** Typers now, all channels. */
  typingNow: number;
  /** Messages posted in the current UTC minute. */
  messagesThisMinute: number;
  /** Newest joins first (at most 50 kept). */
  recentJoins: { userId: string; at: string; accountAgeDays: number }[];
}

/** The counters pushed to WebSockets (`activity:live`): the live state without lists. */
export type LiveCounters = Pick<LiveState, "guildId" | "at" | "online" | "typingNow" | "messagesThisMinute">;

/**
 * Reads live state through the cache's hash, list and set operations (HGETALL, HLEN, SCARD, LRANGE, HGET), all under the
 * guild's hash tag. Expired typers are filtered by their expiry, so the answer is exact to the millisecond even
 * before Redis removes the key.
 */
export class LiveStateReader {
  constructor(private readonly structures: CacheStructures) {}

  /** The whole live state of a guild as of `nowMs`, with up to `joins` recent joins. */
  async live(guildId: string, nowMs: number, joins = 20): Promise<LiveState> {
    const [counters, typing, recentJoins] = await Promise.all([
      this.counters(guildId, nowMs),
      this.typing(guildId, nowMs),
      this.structures.lrange<{ userId: string; at: string; accountAgeDays: number }>(
        activityKeys.joins(guildId),
        0,
        joins - 1,
      ),
    ]);
    return { ...counters, typing, recentJoins };
  }

  /** Online now, typers now and messages this minute. */
  async counters(guildId: string, nowMs: number): Promise<LiveCounters> {
    const minute = counterSlot(guildId, "messages", "minute", bucketStart("minute", nowMs));
    const [total, [desktop, mobile, web], messages, typing] = await Promise.all([
      this.structures.call(
        "live",
        (c) => c.hlen(this.structures.key(activityKeys.online(guildId))),
        this.structures.key(activityKeys.online(guildId)),
      ),
      Promise.all(LIVE_PLATFORMS.map((platform) => this.structures.scard(activityKeys.onlineOn(guildId, platform)))),
      this.structures.call(
        "live",
        (c) => c.hget(this.structures.key(minute.key), minute.field!),
        this.structures.key(minute.key),
      ),
      this.typing(guildId, nowMs),
    ]);
    return {
      guildId,
      at: new Date(nowMs).toISOString(),
      online: { total, desktop: desktop!, mobile: mobile!, web: web! },
      typingNow: typing.reduce((sum, channel) => sum + channel.userIds.length, 0),
      messagesThisMinute: Number(messages ?? 0),
    };
  }

  /** Channels with someone typing as of `nowMs`, and who. */
  async typing(guildId: string, nowMs: number): Promise<{ channelId: string; userIds: string[] }[]> {
    const channels = await this.structures.hgetall<number>(activityKeys.typingChannels(guildId));
    const active = Object.entries(channels)
      .filter(([, expiresAt]) => Number(expiresAt) > nowMs)
      .map(([channelId]) => channelId)
      .sort();
    const typers = await Promise.all(
      active.map((channelId) => this.structures.hgetall<number>(activityKeys.typingIn(guildId, channelId))),
    );
    return active
      .map((channelId, i) => ({
        channelId,
        userIds: Object.entries(typers[i]!)
          .filter(([, expiresAt]) => Number(expiresAt) > nowMs)
          .map(([userId]) => userId)
          .sort(),
      }))
      .filter((channel) => channel.userIds.length > 0);
  }
}
