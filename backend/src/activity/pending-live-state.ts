import type { StructureBatch } from "../cache/structures/structure-batch.ts";
import type { IngestEvent } from "../ingest/event-records.ts";
import { activityKeys, LIVE_PLATFORMS } from "./activity-keys.ts";
import { ONLINE_STATE_TTL_MS, RECENT_JOINS, RECENT_JOINS_TTL_MS } from "./activity-horizons.ts";

/**
 * The live state (online, typing, joins) changed since the last flush, folded in process: the newest presence of a
 * member and the latest typing expiry of a typer win. Written as plain pipelined commands: a few per member who
 * changed, not per event.
 */
export class PendingLiveState {
  /** Guilds whose live state changed. */
  readonly guilds = new Set<string>();
  private readonly online = new Map<
    string,
    { guildId: string; userId: string; status: string; platforms: string[]; at: number }
  >();
  private readonly typing = new Map<
    string,
    { guildId: string; channelId: string; userId: string; expiresAt: number }
  >();
  private readonly joins: { guildId: string; userId: string; at: number; accountAgeDays: number }[] = [];

  /** Adds the live state an event changes; other kinds change none. */
  add(event: IngestEvent, typingTtlMs: number): void {
    switch (event.kind) {
      case "presence": {
        const at = event.createdAt.getTime();
        const key = `${event.guildId}|${event.userId}`;
        const known = this.online.get(key);
        // The newest presence of a member in this flush wins.
        if (!known || known.at <= at)
          this.online.set(key, {
            guildId: event.guildId,
            userId: event.userId,
            status: event.status,
            platforms: event.platforms,
            at,
          });
        this.guilds.add(event.guildId);
        return;
      }
      case "typing": {
        const key = `${event.guildId}|${event.channelId}|${event.userId}`;
        const expiresAt = event.startedAt.getTime() + typingTtlMs;
        if ((this.typing.get(key)?.expiresAt ?? 0) < expiresAt)
          this.typing.set(key, { guildId: event.guildId, channelId: event.channelId, userId: event.userId, expiresAt });
        this.guilds.add(event.guildId);
        return;
      }
      case "memberJoin":
        this.joins.push({
          guildId: event.guildId,
          userId: event.userId,
          at: event.joinedAt.getTime(),
          accountAgeDays: event.accountAgeDays,
        });
        this.guilds.add(event.guildId);
        return;
      default:
        return;
    }
  }

  /** True when nothing changed. */
  isEmpty(): boolean {
    return this.online.size === 0 && this.typing.size === 0 && this.joins.length === 0;
  }

  /** Queues the changes on `batch`. */
  writeTo(batch: StructureBatch): void {
    for (const { guildId, userId, status, platforms, at } of this.online.values()) {
      const offline = status === "offline" || status === "invisible";
      if (offline) batch.hdel(activityKeys.online(guildId), userId);
      else
        batch.hset(
          activityKeys.online(guildId),
          userId,
          JSON.stringify({ status, platforms, at: new Date(at).toISOString() }),
        );
      for (const platform of LIVE_PLATFORMS) {
        const key = activityKeys.onlineOn(guildId, platform);
        if (!offline && platforms.includes(platform))
          batch.sadd(key, JSON.stringify(userId)).expire(key, ONLINE_STATE_TTL_MS);
        else batch.srem(key, JSON.stringify(userId));
      }
      if (!offline) batch.expire(activityKeys.online(guildId), ONLINE_STATE_TTL_MS);
    }
    const latestPerChannel = new Map<string, { guildId: string; channelId: string; expiresAt: number }>();
    for (const { guildId, channelId, userId, expiresAt } of this.typing.values()) {
      batch.hset(activityKeys.typingIn(guildId, channelId), userId, String(expiresAt));
      const channelKey = `${guildId}|${channelId}`;
      if ((latestPerChannel.get(channelKey)?.expiresAt ?? 0) < expiresAt)
        latestPerChannel.set(channelKey, { guildId, channelId, expiresAt });
    }
    for (const { guildId, channelId, expiresAt } of latestPerChannel.values()) {
      // The channel's hash goes away with its last typer; the guild's channel index a little later (read filters it).
      batch.expireAt(activityKeys.typingIn(guildId, channelId), expiresAt);
      batch.hset(activityKeys.typingChannels(guildId), channelId, String(expiresAt));
      batch.expireAt(activityKeys.typingChannels(guildId), expiresAt + 60_000);
    }
    for (const { guildId, userId, at, accountAgeDays } of this.joins) {
      const key = activityKeys.joins(guildId);
      batch
        .lpush(key, JSON.stringify({ userId, at: new Date(at).toISOString(), accountAgeDays }))
        .ltrim(key, 0, RECENT_JOINS - 1)
        .expire(key, RECENT_JOINS_TTL_MS);
    }
  }
}
