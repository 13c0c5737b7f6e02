import {
  ANALYTICS_TYPES,
  analyticsTypeTag,
  guildAnalyticsTag,
  type AnalyticsType,
} from "../analytics/analytics-catalog.ts";
import type { IngestEventKind } from "../ingest/event-records.ts";
import type { Logger } from "../logging/logger.ts";
import type { AnalyticsUpdate } from "../pubsub/analytics-update.ts";
import type { Publisher } from "../pubsub/pubsub.ts";
import { analyticsAffectedBy } from "./invalidation-table.ts";

/** The one cache operation invalidation needs (satisfied by the cache layer's `Cache`). */
export interface TagInvalidator {
  invalidateByTags(tags: string[], options?: { mode?: "hard" | "soft" }): Promise<unknown>;
}

/** Defaults of the invalidation service; the service's INVALIDATION_* defaults (config/config.ts) are these. */
export const INVALIDATION_DEFAULTS = { coalesceMs: 1_000, mode: "soft" } as const;

/** Options of the invalidation service. */
export interface CacheInvalidationOptions {
  cache: TagInvalidator;
  logger: Logger;
  /** Where analytics updates are published; none: invalidate only. */
  publisher?: Publisher;
  /** Pub/sub channel of analytics updates (see `analyticsUpdateChannel`); required with `publisher`. */
  channel?: string;
  /** Coalescing window per guild: the first event opens it, its end triggers one invalidation (default 1,000 ms). */
  coalesceMs?: number;
  /**
   * How event-driven invalidations are made (default "soft"): soft lets a reader serve the previous value once while
   * one refresh runs, for at most the cache's `softInvalidationStaleMs` after the invalidation; "hard" makes the
   * next read of each analytic a miss. Deletions of data (admin paths) do not come through here and stay hard.
   */
  mode?: "hard" | "soft";
  /**
   * Recomputes one analytic of one guild (default window) right after its invalidation and returns the fresh
   * result; with it, the update published is one `analytics:update` per analytic carrying `data` (none: a
   * types-only update tells dashboards to refetch).
   */
  recompute?: (guildId: string, type: AnalyticsType) => Promise<unknown>;
  /** Publishes updates with their data (`PubSubService.publishAnalyticsUpdate`); used with `recompute`. */
  analyticsUpdates?: { publishAnalyticsUpdate(guildId: string, type: AnalyticsType, data: unknown): Promise<unknown> };
}

/** Counters of the invalidation service since it started. */
export interface InvalidationStats {
  /** Durable events reported. */
  events: number;
  /** Events of kinds no analytic reads (e.g. joins): nothing to invalidate. */
  eventsWithoutEffect: number;
  /** `invalidateByTags` calls that succeeded: at most one per guild per window. */
  invalidations: number;
  /** Events that rode on another event's invalidation because they arrived while their guild's window was open. */
  coalescedEvents: number;
  /** Analytics updates published. */
  published: number;
  /** Analytics recomputed after their invalidation (their update carried the fresh result). */
  recomputed: number;
  /** Failed invalidations (retried in the next window) and failed publishes. */
  errors: number;
  /** Guilds with an open window right now. */
  pendingGuilds: number;
}

interface OpenWindow {
  types: Set<AnalyticsType>;
  timer: NodeJS.Timeout;
}

/**
 * Turns "these events of this guild are durable" into cache invalidations of exactly the affected analytics of
 * exactly that guild, coalesced per guild so an event storm costs one `invalidateByTags` per window; then
 * publishes an analytics update for the realtime side.
 */
export class CacheInvalidationService {
  private readonly cache: TagInvalidator;
  private readonly logger: Logger;
  private readonly publisher: Publisher | undefined;
  private readonly channel: string | undefined;
  private readonly coalesceMs: number;
  private readonly invalidateOptions: { mode: "hard" | "soft" };
  private readonly windows = new Map<string, OpenWindow>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly counters = {
    events: 0,
    eventsWithoutEffect: 0,
    invalidations: 0,
    coalescedEvents: 0,
    published: 0,
    recomputed: 0,
    errors: 0,
  };
  private readonly recompute: CacheInvalidationOptions["recompute"];
  private readonly analyticsUpdates: CacheInvalidationOptions["analyticsUpdates"];
  private closed = false;

  constructor(options: CacheInvalidationOptions) {
    if (options.publisher && !options.channel) throw new Error("CacheInvalidationService: a publisher needs a channel");
    this.cache = options.cache;
    this.logger = options.logger;
    this.publisher = options.publisher;
    this.channel = options.channel;
    this.coalesceMs = options.coalesceMs ?? INVALIDATION_DEFAULTS.coalesceMs;
    this.invalidateOptions = { mode: options.mode ?? INVALIDATION_DEFAULTS.mode };
    this.recompute = options.recompute;
    this.analyticsUpdates = options.analyticsUpdates;
  }

  /** Document 001's form: a message was stored in `guildId` (ghosts, lurkers, heatmap, shifts). */
  onMessageCreated(guildId: string): Promise<void> {
    return this.onEvent(guildId, "message");
  }

  /** A typing event was stored in `guildId` (the same four analytics as messages). */
  onTypingEvent(guildId: string): Promise<void> {
    return this.onEvent(guildId, "typing");
  }

  /**
   * A presence update of `userId` was stored in `guildId` (lurkers, clients of that guild). Document 001 writes
   * `onPresenceUpdate(userId)`: with the user alone the guild is unknown, so lurkers and clients of EVERY guild are
   * invalidated (two tags, at once); the bot always passes the guild.
   */
  onPresenceUpdate(guildIdOrUserId: string, userId?: string): Promise<void> {
    if (userId !== undefined) return this.onEvent(guildIdOrUserId, "presence");
    this.counters.events += 1;
    return this.cache
      .invalidateByTags(
        analyticsAffectedBy(["presence"]).map((type) => analyticsTypeTag(type)),
        this.invalidateOptions,
      )
      .then(() => {
        this.counters.invalidations += 1;
      });
  }

  /** A member's roles changed in `guildId` (role drift). */
  onRoleChanged(guildId: string): Promise<void> {
    return this.onEvent(guildId, "roleChange");
  }

  /** A message was deleted in `guildId` (the analytics whose definition reads `messageDelete`; none: only counted). */
  onMessageDeleted(guildId: string): Promise<void> {
    return this.onEvent(guildId, "messageDelete");
  }

  /** A member joined `guildId` (the analytics whose definition reads `memberJoin`; none: only counted). */
  onMemberJoined(guildId: string): Promise<void> {
    return this.onEvent(guildId, "memberJoin");
  }

  /** One event of `kind`: into the guild's coalescing window (resolves at once; `flush()` waits for the invalidation). */
  onEvent(guildId: string, kind: IngestEventKind): Promise<void> {
    this.notify(guildId, [kind]);
    return Promise.resolve();
  }

  /** Reports `events` durable events of `kinds` in `guildId`; their analytics are invalidated when the guild's window ends. */
  notify(guildId: string, kinds: Iterable<IngestEventKind>, events = 1): void {
    this.counters.events += events;
    const types = analyticsAffectedBy(kinds);
    if (types.length === 0) {
      this.counters.eventsWithoutEffect += events;
      return;
    }
    const open = this.windows.get(guildId);
    if (open) {
      for (const type of types) open.types.add(type);
      this.counters.coalescedEvents += events;
      return;
    }
    // The first event of a window pays for the invalidation; the others in this call ride on it.
    this.counters.coalescedEvents += events - 1;
    this.openWindow(guildId, new Set(types));
  }

  /** Ends every open window now and waits for the invalidations in flight. */
  async flush(): Promise<void> {
    for (const guildId of [...this.windows.keys()]) this.endWindow(guildId);
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Flushes pending windows and stops accepting new ones (later events invalidate at once). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  /** A snapshot of the counters. */
  stats(): InvalidationStats {
    return { ...this.counters, pendingGuilds: this.windows.size };
  }

  private openWindow(guildId: string, types: Set<AnalyticsType>): void {
    if (this.closed) {
      // After close nothing would end a window: invalidate at once rather than lose it.
      this.track(this.invalidate(guildId, [...types]));
      return;
    }
    const timer = setTimeout(() => this.endWindow(guildId), this.coalesceMs);
    this.windows.set(guildId, { types, timer });
  }

  private endWindow(guildId: string): void {
    const window = this.windows.get(guildId);
    if (!window) return;
    clearTimeout(window.timer);
    this.windows.delete(guildId);
    this.track(
      this.invalidate(
        guildId,
        ANALYTICS_TYPES.filter((type) => window.types.has(type)),
      ),
    );
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async invalidate(guildId: string, types: AnalyticsType[]): Promise<void> {
    try {
      await this.cache.invalidateByTags(
        types.map((type) => guildAnalyticsTag(type, guildId)),
        this.invalidateOptions,
      );
      this.counters.invalidations += 1;
    } catch (error) {
      this.counters.errors += 1;
      this.logger.warn(
        { guildId, types, err: error instanceof Error ? error.message : String(error) },
        "cache invalidation failed: retrying next window",
      );
      // The entries stay stale until their TTL unless retried: put the types back into the guild's next window.
      if (!this.closed) this.requeue(guildId, types);
      return;
    }
    if (this.recompute && this.analyticsUpdates) {
      await Promise.all(types.map((type) => this.recomputeAndPublish(guildId, type)));
      return;
    }
    await this.publish({ guildId, types, at: new Date().toISOString() });
  }

  /** Recomputes one analytic after its invalidation and publishes the fresh result (a types-only update if that fails). */
  private async recomputeAndPublish(guildId: string, type: AnalyticsType): Promise<void> {
    let data: unknown;
    try {
      data = await this.recompute!(guildId, type);
      this.counters.recomputed += 1;
    } catch (error) {
      this.logger.warn(
        { guildId, type, err: error instanceof Error ? error.message : String(error) },
        "recompute after invalidation failed: dashboards are told to refetch",
      );
      await this.publish({ guildId, types: [type], at: new Date().toISOString() });
      return;
    }
    try {
      await this.analyticsUpdates!.publishAnalyticsUpdate(guildId, type, data);
      this.counters.published += 1;
    } catch (error) {
      this.counters.errors += 1;
      this.logger.warn(
        { guildId, type, err: error instanceof Error ? error.message : String(error) },
        "analytics update publish failed",
      );
    }
  }

  private requeue(guildId: string, types: AnalyticsType[]): void {
    const open = this.windows.get(guildId);
    if (open) for (const type of types) open.types.add(type);
    else this.openWindow(guildId, new Set(types));
  }

  private async publish(update: AnalyticsUpdate): Promise<void> {
    if (!this.publisher || !this.channel) return;
    try {
      await this.publisher.publish(this.channel, update);
      this.counters.published += 1;
    } catch (error) {
      this.counters.errors += 1;
      this.logger.warn(
        { guildId: update.guildId, err: error instanceof Error ? error.message : String(error) },
        "analytics update publish failed",
      );
    }
  }
}
