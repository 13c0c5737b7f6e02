import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type { HealthProbe } from "./health-check.ts";

/** What the application check reads (each optional part is skipped when absent). */
export interface ApplicationCheckSources {
  /** The cache's circuit breaker state, read in process. */
  breakerState: () => string;
  /** The ingestion buffer (rows held, bound); undefined when the Discord side does not run. */
  ingestBuffer?: () => { buffered: number; capacity: number } | undefined;
  /** Event loop delay p99 above which the check is degraded, in ms (HEALTH_EVENT_LOOP_DELAY_MAX_MS). */
  eventLoopDelayMaxMs: number;
  /** Buffer fill (%) above which the check is degraded (ALERT_INGEST_BUFFER_MAX_PERCENT). */
  ingestBufferMaxPercent: number;
}

/**
 * The application check: event loop delay (p99 since the previous probe, from `monitorEventLoopDelay`), the
 * ingestion buffer's fill and the cache breaker. Degraded (never down: the process answers) when one is off.
 * `close()` stops the event loop histogram.
 */
export function applicationProbe(sources: ApplicationCheckSources): {
  probe: () => Promise<HealthProbe>;
  close(): void;
} {
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  histogram.enable();
  return {
    close: () => histogram.disable(),
    probe: async () => {
      const p99Ms = histogram.count > 0 ? Math.round((histogram.percentile(99) / 1e6) * 100) / 100 : 0;
      histogram.reset();
      const breaker = sources.breakerState();
      const buffer = sources.ingestBuffer?.();
      const bufferPercent =
        buffer && buffer.capacity > 0 ? Math.round((buffer.buffered / buffer.capacity) * 10_000) / 100 : null;
      const problems: string[] = [];
      if (p99Ms > sources.eventLoopDelayMaxMs)
        problems.push(`event loop delay p99 ${p99Ms} ms (maximum ${sources.eventLoopDelayMaxMs} ms)`);
      if (breaker !== "closed") problems.push(`cache circuit breaker is ${breaker}`);
      if (bufferPercent !== null && bufferPercent > sources.ingestBufferMaxPercent)
        problems.push(`ingestion buffer at ${bufferPercent}% (maximum ${sources.ingestBufferMaxPercent}%)`);
      const details = { eventLoopDelayP99Ms: p99Ms, breaker, ingestBufferPercent: bufferPercent };
      return problems.length > 0 ? { status: "degraded", message: problems.join("; "), details } : { details };
    },
  };
}
