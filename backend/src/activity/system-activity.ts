import type { CacheStructures } from "../cache/structures/data-structures.ts";
import { activityKeys, INGEST_FAILURE_KINDS, type IngestFailureKind } from "./activity-keys.ts";
import { ACTIVITY_METRIC_TYPES, type ActivityMetricType } from "./activity-metrics.ts";
import { bucketStart, labelOf } from "./time-buckets.ts";

/** System-wide activity across every guild and instance. */
export interface SystemActivity {
  at: string;
  /** Seconds averaged over (the current second is left out: it is still filling). */
  windowSeconds: number;
  /** Events recorded per second, by metric, averaged over the window. */
  eventsPerSecond: Record<ActivityMetricType, number>;
  /** Events of every kind per second. */
  totalPerSecond: number;
  /** Ingestion failures in the last `failureMinutes` minutes, by kind (failed insert attempts, rows rejected, dropped, abandoned at shutdown). */
  ingestFailures: Record<IngestFailureKind, number>;
  failureMinutes: number;
}

/** Reads the system-wide counters: one MGET (they share the `{system}` hash tag). */
export async function readSystemActivity(
  structures: CacheStructures,
  nowMs: number,
  windowSeconds = 60,
  failureMinutes = 60,
): Promise<SystemActivity> {
  const lastSecond = Math.floor(nowMs / 1000) - 1;
  const seconds = Array.from({ length: windowSeconds }, (_, i) => lastSecond - i);
  const thisMinute = bucketStart("minute", nowMs);
  const minutes = Array.from({ length: failureMinutes }, (_, i) => labelOf("minute", thisMinute - i * 60_000));
  const keys = [
    ...ACTIVITY_METRIC_TYPES.flatMap((metric) => seconds.map((second) => activityKeys.eventsPerSecond(metric, second))),
    ...INGEST_FAILURE_KINDS.flatMap((kind) => minutes.map((minute) => activityKeys.ingestFailures(kind, minute))),
  ];
  const values = (await structures.mget(keys)).map((value) => Number(value ?? 0));
  let offset = 0;
  const sumNext = (n: number) => {
    let sum = 0;
    for (let i = 0; i < n; i += 1) sum += values[offset + i]!;
    offset += n;
    return sum;
  };
  const eventsPerSecond = {} as Record<ActivityMetricType, number>;
  for (const metric of ACTIVITY_METRIC_TYPES) eventsPerSecond[metric] = round(sumNext(windowSeconds) / windowSeconds);
  const ingestFailures = {} as Record<IngestFailureKind, number>;
  for (const kind of INGEST_FAILURE_KINDS) ingestFailures[kind] = sumNext(failureMinutes);
  const totalPerSecond = round(Object.values(eventsPerSecond).reduce((sum, rate) => sum + rate, 0));
  return {
    at: new Date(nowMs).toISOString(),
    windowSeconds,
    eventsPerSecond,
    totalPerSecond,
    ingestFailures,
    failureMinutes,
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
