import type { CacheStructures } from "../cache/structures/data-structures.ts";
import type { IngestEvent, IngestEventKind } from "../ingest/event-records.ts";
import type { IngestStats } from "../ingest/ingestion-writer-options.ts";
import type { Logger } from "../logging/logger.ts";
import type { Publisher } from "../pubsub/pubsub.ts";
import { ACTIVITY_NAMESPACE } from "./activity-keys.ts";
import { ActivityReader } from "./activity-reader.ts";
import { ActivityRecorder, type ActivityRecorderStats } from "./activity-recorder.ts";
import { ActivityRetention } from "./activity-retention.ts";
import { liveCountersChannel } from "./live-counters-channel.ts";
import { LivePush } from "./live-push.ts";
import { LiveStateReader } from "./live-state.ts";
import { readSystemActivity, type SystemActivity } from "./system-activity.ts";

/** Settings of the activity side (AppConfig.activity). */
export interface ActivitySettings {
  flushIntervalMs: number;
  typingTtlMs: number;
  livePushIntervalMs: number;
  /** 0: no scheduled retention. */
  retentionIntervalMs: number;
}

/** What the activity side is built from. */
export interface ActivityDependencies {
  /** The cache layer: activity keys live in its `activity` structure namespace, behind its breaker and timeouts. */
  cache: { structures(namespace: string): CacheStructures };
  logger: Logger;
  settings: ActivitySettings;
  /** Where live counters are published (omit: no WebSocket pushes). */
  publisher?: Publisher;
  /** REDIS_KEY_PREFIX, naming the live counters channel. */
  keyPrefix: string;
  /** The ingestion writer's counters, read lazily (recorded as system-wide ingestion failures). */
  ingestStats?: () => IngestStats | undefined;
}

/** The live activity of guilds in Redis: recording, reading, live pushes and retention (docs/activity.md). */
export interface ActivityService {
  structures: CacheStructures;
  recorder: ActivityRecorder;
  reader: ActivityReader;
  live: LiveStateReader;
  retention: ActivityRetention;
  /** The ingestion writer's durable-rows hook: records the rows' metrics and live state (returns at once). */
  recordDurable(kind: IngestEventKind, rows: readonly IngestEvent[]): void;
  /** System-wide events per second and ingestion failures. */
  system(nowMs?: number): Promise<SystemActivity>;
  stats(): ActivityRecorderStats & { livePushes: number };
  /** Flushes what is recorded, stops the retention timer and live pushes. Idempotent. */
  close(): Promise<void>;
}

/** Builds the activity side of the service. */
export function createActivityService(deps: ActivityDependencies): ActivityService {
  const { logger, settings } = deps;
  const structures = deps.cache.structures(ACTIVITY_NAMESPACE);
  const live = new LiveStateReader(structures);
  const livePush = deps.publisher
    ? new LivePush({
        reader: live,
        publisher: deps.publisher,
        channel: liveCountersChannel(deps.keyPrefix),
        intervalMs: settings.livePushIntervalMs,
        logger,
      })
    : undefined;
  const recorder = new ActivityRecorder({
    structures,
    logger,
    flushIntervalMs: settings.flushIntervalMs,
    typingTtlMs: settings.typingTtlMs,
    ingestStats: () => deps.ingestStats?.(),
    ...(livePush ? { onFlushed: (guildIds: string[]) => livePush.changed(guildIds) } : {}),
  });
  const retention = new ActivityRetention({ structures, logger });
  const timer =
    settings.retentionIntervalMs > 0
      ? setInterval(() => {
          retention
            .run()
            .catch((error: unknown) =>
              logger.warn(
                { err: error instanceof Error ? error.message : String(error) },
                "activity retention run failed",
              ),
            );
        }, settings.retentionIntervalMs)
      : undefined;
  timer?.unref();
  let closing: Promise<void> | undefined;
  return {
    structures,
    recorder,
    reader: new ActivityReader(structures),
    live,
    retention,
    recordDurable: (_kind, rows) => recorder.recordEvents(rows),
    system: (nowMs = Date.now()) => readSystemActivity(structures, nowMs),
    stats: () => ({ ...recorder.stats(), livePushes: livePush?.published ?? 0 }),
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await recorder.close();
        await livePush?.close();
      })();
      return closing;
    },
  };
}
