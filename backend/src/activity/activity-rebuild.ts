import type { CacheStructures } from "../cache/structures/data-structures.ts";
import type { IngestEventKind } from "../ingest/event-records.ts";
import { INGEST_EVENT_KINDS } from "../ingest/event-kinds/index.ts";
import type { Logger } from "../logging/logger.ts";
import { activityKeys, parseCounterHashKey, parseCountKey, parseLeaderboardKey } from "./activity-keys.ts";
import { metricOfEvent } from "./activity-metrics.ts";
import type { ActivityRebuildRepository } from "./activity-rebuild-repository.ts";
import { ActivityRecorder } from "./activity-recorder.ts";
import {
  CONTAINER_OF,
  containerStartOf,
  fieldStart,
  HASHED_BUCKET_MS,
  type HashedGranularity,
} from "./counter-slots.ts";
import { bucketStart, GRANULARITIES, nextBucketStart, parseLabel, type Granularity } from "./time-buckets.ts";

/** What a rebuild did. */
export interface RebuildReport {
  guildId: string;
  /** `since` rounded down to the minute: every bucket and leaderboard ending after it was rebuilt, whole. */
  from: string;
  /** Where the replay started reading events: the start of the week or month holding `from`, whichever is earlier. */
  readFrom: string;
  /** Counter and leaderboard keys deleted before the replay. */
  deletedKeys: number;
  /** Minute and hour counters deleted from hashes that also hold older buckets (kept). */
  deletedFields: number;
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
 * Rebuilds a guild's counters, leaderboards and streak days from PostgreSQL. A bucket is rebuilt whole or not at
 * all: every counter and leaderboard of the guild that ends after `from` (`since` rounded down to the minute) is
 * deleted, then the stored events are replayed through a recorder of its own that writes only those buckets. The
 * week and month holding `from` started before it, so the replay reads from the earlier of their starts; older
 * events there feed only those two. System-wide rates and live state are about now and are left alone. Events
 * recorded by the running service between the delete and the replay's read are counted twice: run it when
 * ingestion is quiet, or again. docs/activity.md.
 */
export async function rebuildActivity(options: RebuildOptions): Promise<RebuildReport> {
  const { structures, repository, logger, guildId } = options;
  const from = bucketStart("minute", options.since.getTime());
  const readFrom = Math.min(bucketStart("month", from), bucketStart("week", from));
  const deleted = await deleteFrom(structures, guildId, from);
  const recorder = new ActivityRecorder({
    structures,
    logger,
    flushIntervalMs: 60_000,
    maxPendingMetrics: Number.MAX_SAFE_INTEGER,
    keepBucketsEndingAfter: from,
  });
  const events = Object.fromEntries(INGEST_EVENT_KINDS.map((kind) => [kind, 0])) as Record<IngestEventKind, number>;
  const pageSize = options.pageSize ?? 5_000;
  let total = 0;
  for (const kind of INGEST_EVENT_KINDS) {
    let afterId = 0n;
    for (;;) {
      const page = await repository.page(kind, guildId, new Date(readFrom), afterId, pageSize);
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
  return {
    guildId,
    from: new Date(from).toISOString(),
    readFrom: new Date(readFrom).toISOString(),
    ...deleted,
    events,
    dropped: recorder.stats().dropped,
  };
}

/**
 * Deletes the guild's counters and leaderboards of buckets ending after `fromMs` (SCAN, never KEYS): whole keys, or
 * the fields of those buckets from a minute or hour hash that also holds older ones.
 */
async function deleteFrom(
  structures: CacheStructures,
  guildId: string,
  fromMs: number,
): Promise<{ deletedKeys: number; deletedFields: number }> {
  let deletedKeys = 0;
  let deletedFields = 0;
  for await (const page of structures.scan(activityKeys.guildPattern(guildId))) {
    const doomed: string[] = [];
    for (const key of page) {
      const hash = parseCounterHashKey(key);
      if (hash) {
        const containerStart = containerStartOf(hash.granularity, hash.containerLabel);
        if (containerStart === undefined || nextBucketStart(CONTAINER_OF[hash.granularity], containerStart) <= fromMs)
          continue;
        if (containerStart >= fromMs) doomed.push(key);
        else deletedFields += await deleteFieldsFrom(structures, key, hash.granularity, containerStart, fromMs);
        continue;
      }
      const count = parseCountKey(key);
      const board = count ? undefined : parseLeaderboardKey(key);
      const granularity = (count?.granularity ?? board?.period) as Granularity | undefined;
      if (!granularity || !(GRANULARITIES as readonly string[]).includes(granularity)) continue;
      const start = parseLabel(granularity, (count?.label ?? board?.label)!);
      if (start !== undefined && nextBucketStart(granularity, start) > fromMs) doomed.push(key);
    }
    deletedKeys += await structures.del(doomed);
  }
  return { deletedKeys, deletedFields };
}

/** HDEL of the fields of buckets ending after `fromMs` from one counter hash. */
async function deleteFieldsFrom(
  structures: CacheStructures,
  key: string,
  granularity: HashedGranularity,
  containerStart: number,
  fromMs: number,
): Promise<number> {
  const full = structures.key(key);
  const fields = await structures.call("rebuild", (c) => c.hkeys(full), full);
  const doomed = fields.filter((field) => {
    const start = fieldStart(granularity, containerStart, field);
    return start !== undefined && start + HASHED_BUCKET_MS[granularity] > fromMs;
  });
  return doomed.length === 0 ? 0 : structures.call("rebuild", (c) => c.hdel(full, ...doomed), full);
}
