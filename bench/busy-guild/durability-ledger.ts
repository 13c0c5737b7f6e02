import type { PrismaClient } from "../../backend/src/db/prisma-client.ts";

/** What the ledger counts for the guild: rows per table, and distinct (watcher, platform) pairs of presence rows. */
export interface DurableCounts {
  messages: number;
  typing: number;
  presence: number;
  roleChanges: number;
  platformPairs: number;
}

/** The fields of `DurableCounts`. */
export const COUNT_NAMES: readonly (keyof DurableCounts)[] = [
  "messages",
  "typing",
  "presence",
  "roleChanges",
  "platformPairs",
];

/** One poll: the counts a snapshot saw, taken between `startedAt` and `endedAt` (performance.now() ms). */
interface Poll {
  startedAt: number;
  endedAt: number;
  counts: DurableCounts;
}

/**
 * A record of when the guild's rows became durable, built by polling PostgreSQL on its own connection every
 * `intervalMs`. Rows are only ever added, so each count rises monotonically and "the n-th row" is well defined:
 * it became visible after the start of the last poll that saw fewer than n, and before the end of the first poll
 * that saw n or more. Times are bounded to within one poll period (plus one query).
 */
export class DurabilityLedger {
  private readonly polls: Poll[] = [];
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  /** Polls that failed (the ledger's time bounds widen across them). */
  failedPolls = 0;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly guildId: string,
    private readonly intervalMs = 10,
  ) {}

  /** Starts polling; the first poll has run when this resolves. */
  async start(): Promise<void> {
    await this.pollOnce();
    this.schedule();
  }

  /** Stops polling after the poll in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
  }

  /** The latest counts seen. */
  latest(): DurableCounts {
    const last = this.polls.at(-1);
    if (!last) throw new Error("ledger: no poll yet");
    return last.counts;
  }

  /** Number of polls and the median time between poll ends (the ledger's time resolution), ms. */
  resolution(): { polls: number; medianPeriodMs: number } {
    const periods = this.polls
      .slice(1)
      .map((poll, index) => poll.endedAt - this.polls[index]!.endedAt)
      .sort((a, b) => a - b);
    return { polls: this.polls.length, medianPeriodMs: periods[Math.floor(periods.length / 2)] ?? Number.NaN };
  }

  /** Rows of `name` certainly durable at `time`: the count of the last poll that ended by then (0 if none). */
  durableBy(name: keyof DurableCounts, time: number): number {
    const index = this.lastIndexWhere((poll) => poll.endedAt <= time);
    return index < 0 ? 0 : this.polls[index]!.counts[name];
  }

  /**
   * Bounds of when the `n`-th row of `name` became durable: `latest` is the end of the first poll that saw it,
   * `earliest` the start of the last poll before that one (undefined when no poll has seen it yet).
   */
  durableAt(name: keyof DurableCounts, n: number): { earliest: number; latest: number } | undefined {
    const index = this.polls.findIndex((poll) => poll.counts[name] >= n);
    if (index < 0) return undefined;
    return {
      earliest: index === 0 ? Number.NEGATIVE_INFINITY : this.polls[index - 1]!.startedAt,
      latest: this.polls[index]!.endedAt,
    };
  }

  /** Resolves once `condition` holds for the latest counts, or rejects after `timeoutMs`. */
  async waitFor(condition: (counts: DurableCounts) => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!condition(this.latest())) {
      if (performance.now() > deadline)
        throw new Error(`ledger: timed out waiting for ${what}; latest ${JSON.stringify(this.latest())}`);
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      // A failed poll is counted and the next one tried: a gap only widens the time bounds, it never invents a count.
      this.polling = this.pollOnce()
        .catch(() => void (this.failedPolls += 1))
        .then(() => this.schedule());
    }, this.intervalMs);
  }

  private async pollOnce(): Promise<void> {
    const startedAt = performance.now();
    const [row] = await this.prisma.$queryRaw<DurableCounts[]>`
      SELECT (SELECT count(*) FROM message_events WHERE guild_id = ${this.guildId})::int AS "messages",
             (SELECT count(*) FROM typing_events WHERE guild_id = ${this.guildId})::int AS "typing",
             (SELECT count(*) FROM presence_events WHERE guild_id = ${this.guildId})::int AS "presence",
             (SELECT count(*) FROM role_change_events WHERE guild_id = ${this.guildId})::int AS "roleChanges",
             (SELECT count(DISTINCT (e.user_id, p.platform))
                FROM presence_events e CROSS JOIN LATERAL unnest(e.platforms) AS p(platform)
               WHERE e.guild_id = ${this.guildId})::int AS "platformPairs"`;
    this.polls.push({ startedAt, endedAt: performance.now(), counts: row! });
  }

  private lastIndexWhere(predicate: (poll: Poll) => boolean): number {
    // Polls are in time order: binary search for the last one matching a prefix-closed predicate.
    let low = 0;
    let high = this.polls.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (predicate(this.polls[middle]!)) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    return found;
  }
}
