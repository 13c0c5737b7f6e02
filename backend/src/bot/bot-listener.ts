import type { Client, ClientEvents } from "discord.js";
import type { IngestEvent } from "../ingest/event-records.ts";
import type { Logger } from "../logging/logger.ts";

/** Where listeners hand their records: the ingestion writer (or anything with its `write`). */
export interface EventSink {
  /** Accepts one record; false when it was not buffered (the sink counts and logs that itself). */
  write(event: IngestEvent): boolean;
}

/** What a listener's `run` receives besides the event. */
export interface ListenerContext {
  ingest: EventSink;
  logger: Logger;
}

/** One handler of one discord.js event: maps the discord.js objects to plain records and hands them to ingestion. */
export interface BotListener<E extends keyof ClientEvents = keyof ClientEvents> {
  /** Name used in logs and stats (e.g. "messageCreate"). */
  name: string;
  event: E;
  run(context: ListenerContext, ...args: ClientEvents[E]): void | Promise<void>;
}

/** Per-listener counts of runs that completed and runs that failed. */
export type ListenerStats = Record<string, { handled: number; failed: number }>;

/** Declares a listener with its event's argument types checked. */
export function defineListener<E extends keyof ClientEvents>(listener: BotListener<E>): BotListener<E> {
  return listener;
}

/**
 * Registers `listener` on `client` with its failures contained: an exception (sync or async) is logged with the
 * listener's name and counted, never thrown into discord.js, so one bad event cannot stop the bot.
 */
export function attachListener<E extends keyof ClientEvents>(
  client: Client,
  listener: BotListener<E>,
  context: ListenerContext,
  stats: ListenerStats,
): void {
  const counts = (stats[listener.name] ??= { handled: 0, failed: 0 });
  const fail = (error: unknown) => {
    counts.failed += 1;
    context.logger.error(
      { listener: listener.name, event: listener.event, err: error },
      `listener ${listener.name} failed`,
    );
  };
  client.on(listener.event, (...args: ClientEvents[E]) => {
    try {
      const result = listener.run(context, ...args);
      if (result instanceof Promise) result.then(() => (counts.handled += 1), fail);
      else counts.handled += 1;
    } catch (error) {
      fail(error);
    }
  });
}
