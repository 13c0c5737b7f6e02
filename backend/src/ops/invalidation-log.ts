import type { Logger } from "../logging/logger.ts";
import { withTimeout } from "../lib/with-timeout.ts";
import type { RedisClient } from "../redis/redis-connections.ts";
import { appendCapped, newestEntries } from "./stream-entries.ts";

/** Who asked for an invalidation. */
export type InvalidationSource = "event" | "admin" | "cli" | "scheduled";

/** What was invalidated, as one log entry. */
export interface InvalidationRecord {
  source: InvalidationSource;
  /** Who or what caused it: "discord events", "admin key ops-key (id 3)", "cli", ... */
  cause: string;
  /** tags | key | pattern | guild | user | purge | clear | cleanup */
  action: string;
  tags: string[];
  /** The guild concerned, when there is one. */
  guildId?: string;
  /** The key or pattern, for those actions. */
  target?: string;
  /** Entries affected: approximate for tag bumps (HyperLogLog), exact for deletes. */
  count: number;
  /** hard | soft (tag bumps) or delete (bytes removed). */
  mode: string;
  durationMs: number;
  outcome: "ok" | "failed";
  error?: string;
}

/** One entry read back, with its stream id and time. */
/** The record of a cleanup run that deleted entries (or failed to): the CLI's and the scheduled one's. */
export function cleanupRecord(
  source: InvalidationSource,
  cause: string,
  report: { deleted: number; failed: number; durationMs: number },
): InvalidationRecord {
  return {
    source,
    cause,
    action: "cleanup",
    tags: [],
    count: report.deleted,
    mode: "delete",
    durationMs: report.durationMs,
    outcome: report.failed > 0 ? "failed" : "ok",
    ...(report.failed > 0 ? { error: `${report.failed} deletes failed` } : {}),
  };
}

export interface InvalidationLogEntry extends InvalidationRecord {
  id: string;
  at: string;
}

/** Options of an `InvalidationLog`. */
export interface InvalidationLogOptions {
  redis: RedisClient;
  /** The stream key (OpsKeys.invalidations()). */
  key: string;
  /** MAXLEN of the stream (INVALIDATION_LOG_MAX_ENTRIES, default 10,000). */
  maxEntries: number;
  /** Failed appends are logged here at warn, at most once a minute. */
  logger?: Logger;
  /** Bound of one append, in ms (default 1,000): the log must never hold up an invalidation. */
  timeoutMs?: number;
}

/**
 * The invalidation log: every invalidation (event-driven after coalescing, admin, CLI, scheduled cleanup) as one entry
 * of a capped Redis stream, so every instance and the CLI read the same history. Appends never reject.
 */
export class InvalidationLog {
  private lastWarnAt = 0;
  /** Appends that failed (Redis down or slow). */
  failedAppends = 0;

  constructor(private readonly options: InvalidationLogOptions) {}

  /** Appends one entry; a failure is counted and logged, never thrown. */
  async record(record: InvalidationRecord): Promise<void> {
    const fields: Record<string, string> = {
      source: record.source,
      cause: record.cause,
      action: record.action,
      tags: JSON.stringify(record.tags),
      count: String(record.count),
      mode: record.mode,
      durationMs: String(Math.round(record.durationMs * 100) / 100),
      outcome: record.outcome,
    };
    if (record.guildId) fields.guildId = record.guildId;
    if (record.target) fields.target = record.target;
    if (record.error) fields.error = record.error;
    try {
      await withTimeout(
        appendCapped(this.options.redis, this.options.key, this.options.maxEntries, fields),
        this.options.timeoutMs ?? 1_000,
        "invalidation log append",
      );
    } catch (error) {
      this.failedAppends += 1;
      if (Date.now() - this.lastWarnAt > 60_000) {
        this.lastWarnAt = Date.now();
        this.options.logger?.warn(
          { err: error instanceof Error ? error.message : String(error), failedAppends: this.failedAppends },
          "invalidation log append failed",
        );
      }
    }
  }

  /** The newest entries first, at most `limit`, only those of `guildId` when given (reads at most 10,000 entries). */
  async recent(options: { limit: number; guildId?: string }): Promise<InvalidationLogEntry[]> {
    const entries = await newestEntries(this.options.redis, this.options.key, {
      limit: options.limit,
      accept: options.guildId ? (entry) => entry.fields.guildId === options.guildId : undefined,
    });
    return entries.map(({ id, fields }) => ({
      id,
      at: new Date(Number(id.split("-")[0])).toISOString(),
      source: fields.source as InvalidationSource,
      cause: fields.cause ?? "",
      action: fields.action ?? "",
      tags: parseTags(fields.tags),
      ...(fields.guildId ? { guildId: fields.guildId } : {}),
      ...(fields.target ? { target: fields.target } : {}),
      count: Number(fields.count ?? 0),
      mode: fields.mode ?? "",
      durationMs: Number(fields.durationMs ?? 0),
      outcome: fields.outcome === "failed" ? "failed" : "ok",
      ...(fields.error ? { error: fields.error } : {}),
    }));
  }
}

/** The guild a tag names (`guild:<id>` or `analytics:<type>:guild:<id>`), if any. */
export function guildOfTags(tags: string[]): string | undefined {
  for (const tag of tags) {
    const match = /(?:^|:)guild:(\d{17,20})$/.exec(tag);
    if (match) return match[1];
  }
  return undefined;
}

function parseTags(raw: string | undefined): string[] {
  try {
    const parsed: unknown = JSON.parse(raw ?? "[]");
    return Array.isArray(parsed) ? parsed.map(String) : [];
  } catch {
    return [];
  }
}
