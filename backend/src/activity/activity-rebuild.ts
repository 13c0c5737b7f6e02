import type { CacheStructures } from "../cache/structures/data-structures.ts";
import type { IngestEventKind } from "../ingest/event-records.ts";
import { INGEST_EVENT_KINDS } from "../ingest/event-kinds/index.ts";
import type { Logger } from "../logging/logger.ts";
import { activityKeys, parseCountKey, parseLeaderboardKey } from "./activity-keys.ts";
import { metricOfEvent } from "./activity-metrics.ts";
import type { ActivityRebuildRepository } from "./activity-rebuild-repository.ts";
import { ActivityRecorder } from "./activity-recorder.ts";
import { bucketStart, GRANULARITIES, parseLabel, type Granularity } from "./time-buckets.ts";

/** What a rebuild did. */
export interface RebuildReport {
  guildId: string;
  /** The start actually rebuilt from: `since` moved back to the start of its UTC week or month, whichever is earlier. */
  from: string;
  /** Counter and leaderboard keys deleted before the replay. */
  deletedKeys: number;
  /** Stored events replayed, by kind. */
  events: Record<IngestEventKind, number>;
  /** Metrics that could not be written (Redis failed during the rebuild): non-zero means run it again. */
  dropped: number;
}

/** What a rebuild needs. */
export interface RebuildOptions {
  structures: CacheStructures;
  repository: ActivityRebuildRepository;
  logger: Logger;
  guildId: string;
  since: Date;
  /** Rows read per page (default 5,000). */
  pageSize?: number;
  /** Called after each page with the running count of events. */
  onProgress?: (events: number) => void;
}

/**
 * Rebuilds a guild's counters, leaderboards and streak days from PostgreSQL. A bucket that started before `since`
 * would be rebuilt from part of its events only, so `since` moves back to the start of its week or month
 * (the largest buckets); every counter and leaderboard of the guild from there on is deleted, then the stored
 * events are replayed through a recorder of its own (system-wide rates and live state are left alone: they are
 * about now). Events recorded by the running service between the delete and the replay's read are counted twice:
 * run it when ingestion is quiet, or again. docs/activity.md.
 */
export async function rebuildActivity(options: RebuildOptions): Promise<RebuildReport> {
  const { structures, repository, logger, guildId } = options;
  const from = Math.min(bucketStart("month", options.since.getTime()), bucketStart("week", options.since.getTime()));
  const deletedKeys = await deleteFrom(structures, guildId, from);
  const recorder = new ActivityRecorder({ structures, logger, flushIntervalMs: 60_000, maxPendingMetrics: Number.MAX_SAFE_INTEGER });
  const events = Object.fromEntries(INGEST_EVENT_KINDS.map((kind) => [kind, 0])) as Record<IngestEventKind, number>;
  const pageSize = options.pageSize ?? 5_000;
  let total = 0;
  for (const kind of INGEST_EVENT_KINDS) {
    let afterId = 0n;
    for (;;) {
      const page = await repository.page(kind, guildId, new Date(from), afterId, pageSize);
      if (page.lastId === undefined) break;
      recorder.recordMetrics(page.events.map(metricOfEvent), { replay: true });
      await recorder.flush();
      events[kind] += page.events.length;
      total += page.events.length;
      options.onProgress?.(total);
      afterId = page.lastId;
      if (page.events.length < pageSize) break;
    }
  }
  await recorder.close();
  return { guildId, from: new Date(from).toISOString(), deletedKeys, events, dropped: recorder.stats().dropped };
}

/** Deletes the guild's counters and leaderboards of buckets starting at or after `fromMs` (SCAN, never KEYS). */
async function deleteFrom(structures: CacheStructures, guildId: string, fromMs: number): Promise<number> {
  let deleted = 0;
  for await (const page of structures.scan(activityKeys.guildPattern(guildId))) {
    const doomed = page.filter((key) => {
      const count = parseCountKey(key);
      const board = count ? undefined : parseLeaderboardKey(key);
      const granularity = (count?.granularity ?? board?.period) as Granularity | undefined;
      if (!granularity || !(GRANULARITIES as readonly string[]).includes(granularity)) return false;
      const start = parseLabel(granularity, (count?.label ?? board?.label)!);
      return start !== undefined && start >= fromMs;
    });
    deleted += await structures.del(doomed);
  }
  return deleted;
}
