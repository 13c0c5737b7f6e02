import type { FakeDiscord } from "../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import type { BusyEventKind, BusyGuild } from "./busy-guild-fixture.ts";

/** Events per second of each kind. */
export type EventRates = Record<BusyEventKind, number>;

/** What the pump sent. */
export interface PumpResult {
  /** Dispatches per kind during the run. */
  sent: Record<BusyEventKind, number>;
  /** Dispatches that reached no ready client (the bot was not connected): must be 0. */
  undelivered: number;
  /** Longest gap between two ticks, ms (a sign of a blocked event loop). */
  maxTickGapMs: number;
}

const TICK_MS = 5;
const KINDS: BusyEventKind[] = ["message", "typing", "presence", "roleChange"];

/**
 * Sends the busy guild's events through the fake Discord gateway at fixed rates for `durationMs`. Each tick sends
 * every event owed so far, so timer jitter moves events by a few ms but never changes how many are sent.
 */
export async function pumpEvents(
  fake: FakeDiscord,
  guild: BusyGuild,
  rates: EventRates,
  durationMs: number,
): Promise<PumpResult> {
  const sent: Record<BusyEventKind, number> = { message: 0, typing: 0, presence: 0, roleChange: 0 };
  let undelivered = 0;
  let maxTickGapMs = 0;
  const start = performance.now();
  let lastTick = start;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      maxTickGapMs = Math.max(maxTickGapMs, now - lastTick);
      lastTick = now;
      const seconds = Math.min(now - start, durationMs) / 1000;
      for (const kind of KINDS) {
        for (; sent[kind] < Math.floor(seconds * rates[kind]); sent[kind]++) {
          const { type, data } = guild.next(kind);
          if (fake.dispatch(type, data) === 0) undelivered += 1;
        }
      }
      if (now - start >= durationMs) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  return { sent, undelivered, maxTickGapMs };
}
