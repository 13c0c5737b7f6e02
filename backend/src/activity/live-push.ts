import type { Logger } from "../logging/logger.ts";
import type { Publisher } from "../pubsub/pubsub.ts";
import type { LiveStateReader } from "./live-state.ts";
import { ACTIVITY_DEFAULTS } from "./activity-recorder.ts";

/** Options of the live push. */
export interface LivePushOptions {
  reader: LiveStateReader;
  publisher: Publisher;
  /** `liveCountersChannel(keyPrefix)`. */
  channel: string;
  /** Least time between two pushes of one guild (ACTIVITY_LIVE_PUSH_INTERVAL_MS, default 1,000 ms). */
  intervalMs?: number;
  logger: Logger;
}

/**
 * Publishes a guild's live counters after its activity changed, throttled per guild: the first change publishes at
 * once, later ones within the interval are folded into one trailing publish at its end, so a busy guild costs one
 * read and one PUBLISH per interval however many events it has. Failures are logged at most once a second.
 */
export class LivePush {
  private readonly intervalMs: number;
  private readonly lastPush = new Map<string, number>();
  private readonly scheduled = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  private lastErrorLog = 0;
  /** Publishes made. */
  published = 0;

  constructor(private readonly options: LivePushOptions) {
    this.intervalMs = options.intervalMs ?? ACTIVITY_DEFAULTS.livePushIntervalMs;
  }

  /** Says these guilds' activity changed. */
  changed(guildIds: Iterable<string>): void {
    if (this.closed) return;
    const now = Date.now();
    for (const guildId of guildIds) {
      if (this.scheduled.has(guildId)) continue;
      const wait = Math.max(0, (this.lastPush.get(guildId) ?? -Infinity) + this.intervalMs - now);
      const timer = setTimeout(() => {
        this.scheduled.delete(guildId);
        this.lastPush.set(guildId, Date.now());
        this.track(this.push(guildId));
      }, wait);
      timer.unref();
      this.scheduled.set(guildId, timer);
    }
    // Guilds quiet for a whole interval need no memory of their last push.
    if (this.lastPush.size > 10_000)
      for (const [guildId, at] of this.lastPush) if (now - at > this.intervalMs) this.lastPush.delete(guildId);
  }

  /** Cancels scheduled pushes and waits for those in flight. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.scheduled.values()) clearTimeout(timer);
    this.scheduled.clear();
    await Promise.all([...this.inFlight]);
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async push(guildId: string): Promise<void> {
    try {
      const counters = await this.options.reader.counters(guildId, Date.now());
      await this.options.publisher.publish(this.options.channel, counters);
      this.published += 1;
    } catch (error) {
      const now = Date.now();
      if (now - this.lastErrorLog >= 1_000) {
        this.lastErrorLog = now;
        this.options.logger.warn(
          { guildId, err: error instanceof Error ? error.message : String(error) },
          "activity: live counters push failed",
        );
      }
    }
  }
}
