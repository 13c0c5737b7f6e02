import type { Guild } from "discord.js";
import type { Logger } from "../logging/logger.ts";

/** Settings of the guild member loader; every field has a default. */
export interface GuildMemberLoaderOptions {
  /** Longest silence while waiting for a guild's next GUILD_MEMBERS_CHUNK before its fetch fails (default 120,000 ms, discord.js's). */
  chunkTimeoutMs?: number;
  /** Guilds whose member lists are requested at the same time (default 2), so op 8 stays far below the gateway's 120 sends/min. */
  concurrency?: number;
  /** Retries of a guild after Discord answers op 8 with RATE_LIMITED, each after its `retry_after` (default 3). */
  maxRateLimitRetries?: number;
}

/** Counters of member list fetches. */
export interface GuildMemberLoaderStats {
  /** Guild fetches asked for (skipped ones included). */
  requested: number;
  /** Guilds whose GUILD_CREATE already held every member, so no op 8 was sent. */
  skipped: number;
  /** Guilds whose full member list arrived. */
  completed: number;
  /** Guilds whose fetch failed or timed out (logged with the guild id). */
  failed: number;
  /** RATE_LIMITED answers that were waited out and retried. */
  rateLimited: number;
  /** Members received in chunks, over all guilds. */
  membersFetched: number;
}

/**
 * Loads every member of a guild into discord.js's member cache (gateway op 8 REQUEST_GUILD_MEMBERS, answered with
 * GUILD_MEMBERS_CHUNK dispatches), so a later GUILD_MEMBER_UPDATE has the member's previous roles to diff against.
 * Discord's GUILD_CREATE of a large guild carries only some members; without this, role changes of the others
 * reach the bot as partial members and cannot be recorded. Fetches never throw: failures are logged with the guild
 * id and counted.
 */
export class GuildMemberLoader {
  private readonly logger: Logger;
  private readonly chunkTimeoutMs: number;
  private readonly concurrency: number;
  private readonly maxRateLimitRetries: number;
  private readonly counters: GuildMemberLoaderStats = {
    requested: 0,
    skipped: 0,
    completed: 0,
    failed: 0,
    rateLimited: 0,
    membersFetched: 0,
  };
  /** The load of each guild in progress or queued, so a guild asked for twice is fetched once. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly queue: (() => void)[] = [];
  private running = 0;
  private stopped = false;
  private readonly retryTimers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(logger: Logger, options: GuildMemberLoaderOptions = {}) {
    this.logger = logger;
    this.chunkTimeoutMs = options.chunkTimeoutMs ?? 120_000;
    this.concurrency = Math.max(1, options.concurrency ?? 2);
    this.maxRateLimitRetries = options.maxRateLimitRetries ?? 3;
  }

  /** Loads the member lists of `guilds`; resolves when every one completed or failed (never rejects). */
  loadAll(guilds: Iterable<Guild>): Promise<void> {
    return Promise.all([...guilds].map((guild) => this.load(guild))).then(() => undefined);
  }

  /** Loads one guild's member list; a guild already loading shares that load. Never rejects. */
  load(guild: Guild): Promise<void> {
    this.counters.requested += 1;
    const pending = this.inFlight.get(guild.id);
    if (pending) return pending;
    const load = this.whenSlotFree()
      .then(() => this.fetchWithRetries(guild))
      .finally(() => {
        this.inFlight.delete(guild.id);
        this.releaseSlot();
      });
    this.inFlight.set(guild.id, load);
    return load;
  }

  /** Drops queued loads and pending retries; fetches already sent end on their own (their outcome is logged at debug). */
  stop(): void {
    this.stopped = true;
    for (const start of this.queue.splice(0)) start();
    for (const pending of this.retryTimers) {
      clearTimeout(pending.timer);
      pending.resolve();
    }
    this.retryTimers.clear();
  }

  /** A copy of the counters. */
  stats(): GuildMemberLoaderStats {
    return { ...this.counters };
  }

  private async fetchWithRetries(guild: Guild): Promise<void> {
    if (this.stopped) return;
    // A guild at or under the large threshold arrives with every member in GUILD_CREATE: asking again is wasted.
    if (guild.members.cache.size >= guild.memberCount) {
      this.counters.skipped += 1;
      return;
    }
    const startedAt = performance.now();
    for (let attempt = 0; ; attempt += 1) {
      try {
        const members = await guild.members.fetch({ time: this.chunkTimeoutMs });
        this.counters.completed += 1;
        this.counters.membersFetched += members.size;
        this.logger.info(
          {
            guildId: guild.id,
            fetched: members.size,
            cached: guild.members.cache.size,
            memberCount: guild.memberCount,
            ms: Math.round(performance.now() - startedAt),
          },
          "guild members loaded",
        );
        return;
      } catch (error) {
        const retryAfterMs = rateLimitRetryAfterMs(error);
        if (this.stopped) {
          // The client is shutting down: an unanswered request is expected, not a fault.
          this.logger.debug({ guildId: guild.id, err: error }, "guild member fetch ended by shutdown");
          return;
        }
        if (retryAfterMs !== undefined && attempt < this.maxRateLimitRetries) {
          this.counters.rateLimited += 1;
          this.logger.warn(
            { guildId: guild.id, retryAfterMs, attempt: attempt + 1 },
            "guild member fetch rate limited; retrying",
          );
          await this.sleep(retryAfterMs);
          if (this.stopped) return;
          continue;
        }
        this.counters.failed += 1;
        this.logger.error(
          { guildId: guild.id, err: error, cached: guild.members.cache.size, memberCount: guild.memberCount },
          "guild member fetch failed; role changes of uncached members are skipped until the next fetch",
        );
        return;
      }
    }
  }

  private whenSlotFree(): Promise<void> {
    if (this.running < this.concurrency) {
      this.running += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.queue.push(() => {
        this.running += 1;
        resolve();
      }),
    );
  }

  private releaseSlot(): void {
    this.running -= 1;
    this.queue.shift()?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const pending = {
        timer: setTimeout(() => {
          this.retryTimers.delete(pending);
          resolve();
        }, ms),
        resolve,
      };
      this.retryTimers.add(pending);
    });
  }
}

/** The wait Discord asked for when `error` is discord.js's GatewayRateLimitError (op 8 answered with RATE_LIMITED). */
function rateLimitRetryAfterMs(error: unknown): number | undefined {
  if (!(error instanceof Error) || error.name !== "GatewayRateLimitError") return undefined;
  const retryAfter = (error as Error & { data?: { retry_after?: unknown } }).data?.retry_after;
  return typeof retryAfter === "number" ? Math.ceil(retryAfter * 1000) : undefined;
}
