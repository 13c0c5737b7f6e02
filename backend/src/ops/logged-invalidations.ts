import type { TagInvalidator } from "../invalidation/cache-invalidation-service.ts";
import { guildOfTags, type InvalidationLog, type InvalidationRecord } from "./invalidation-log.ts";

/**
 * Runs one invalidation and logs it (also when it fails, then rethrows): times it, and takes the count from the
 * result's `entries`, `deleted` or a number.
 */
export async function logged<T>(
  log: InvalidationLog | undefined,
  base: Omit<InvalidationRecord, "count" | "durationMs" | "outcome" | "error">,
  run: () => Promise<T>,
  countOf: (result: T) => number = defaultCount,
): Promise<T> {
  const started = performance.now();
  try {
    const result = await run();
    await log?.record({ ...base, count: countOf(result), durationMs: performance.now() - started, outcome: "ok" });
    return result;
  } catch (error) {
    await log?.record({
      ...base,
      count: 0,
      durationMs: performance.now() - started,
      outcome: "failed",
      error: error instanceof Error ? error.message : String(error),
    });
    throw error;
  }
}

/**
 * The cache's `invalidateByTags` with each call logged as event-driven: the invalidation service calls it once per
 * guild per coalescing window, so the log gets one entry per window, not one per Discord event.
 */
export function loggedEventInvalidator(
  cache: TagInvalidator,
  log: InvalidationLog,
  coalesceMs: number,
): TagInvalidator {
  return {
    invalidateByTags: (tags, options) =>
      logged(
        log,
        {
          source: "event",
          cause: `discord events (coalesced per guild, ${coalesceMs} ms window)`,
          action: "tags",
          tags,
          mode: options?.mode ?? "hard",
          ...optionalGuild(tags),
        },
        () => cache.invalidateByTags(tags, options),
      ),
  };
}

/** `{guildId}` when one of the tags names a guild, else nothing. */
export function optionalGuild(tags: string[]): { guildId?: string } {
  const guildId = guildOfTags(tags);
  return guildId ? { guildId } : {};
}

function defaultCount(result: unknown): number {
  if (typeof result === "number") return result;
  if (result && typeof result === "object") {
    const record = result as { entries?: unknown; deleted?: unknown };
    if (typeof record.entries === "number") return record.entries;
    if (typeof record.deleted === "number") return record.deleted;
  }
  return 0;
}
