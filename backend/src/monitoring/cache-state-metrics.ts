import { Counter, Gauge, type Registry } from "prom-client";
import type { SpyCacheStats } from "../cache/index.ts";
import type { CircuitState } from "../cache/resilience/circuit-breaker.ts";

/** Numeric value of each breaker state in `<prefix>breaker_state`. */
export const BREAKER_STATE_VALUE: Record<CircuitState, number> = { closed: 0, "half-open": 1, open: 2 };

/** How long one stats read serves the metrics of a scrape (they are collected concurrently). */
const SNAPSHOT_REUSE_MS = 1_000;

/**
 * Exposes the cache's state beyond its counters (which `registerCacheMetrics` covers), read from `getStats()`
 * without the keyspace SCAN at scrape time; the stats answer even while Redis is down:
 * - `<prefix>breaker_state` (0 closed, 1 half-open, 2 open), `<prefix>breaker_opens_total`, `<prefix>breaker_rejected_total`
 * - `<prefix>l1_entries`, `<prefix>l1_bytes` (0 when L1 is disabled)
 * - `<prefix>invalidation_trusted` (1 while hits need no tag round trip), `<prefix>known_tags`
 */
export function registerCacheStateMetrics(
  registry: Registry,
  cache: { getStats(options: { includeKeyspace?: boolean }): Promise<SpyCacheStats> },
  namePrefix = "spywatcher_cache_",
): void {
  let last: { at: number; stats: Promise<SpyCacheStats> } | undefined;
  const read = (): Promise<SpyCacheStats> => {
    const now = Date.now();
    if (!last || now - last.at > SNAPSHOT_REUSE_MS) last = { at: now, stats: cache.getStats({ includeKeyspace: false }) };
    return last.stats;
  };
  const gauge = (name: string, help: string, value: (stats: SpyCacheStats) => number | undefined) =>
    new Gauge({
      name: `${namePrefix}${name}`,
      help,
      registers: [registry],
      async collect() {
        const current = value(await read());
        this.reset();
        if (current !== undefined) this.set(current);
      },
    });
  const counter = (name: string, help: string, value: (stats: SpyCacheStats) => number) =>
    new Counter({
      name: `${namePrefix}${name}`,
      help,
      registers: [registry],
      async collect() {
        const current = value(await read());
        this.reset();
        this.inc(current);
      },
    });

  gauge("breaker_state", "Circuit breaker in front of Redis: 0 closed, 1 half-open, 2 open", (s) => BREAKER_STATE_VALUE[s.breaker.state]);
  counter("breaker_opens_total", "Times the circuit breaker opened", (s) => s.breaker.opens);
  counter("breaker_rejected_total", "Redis calls refused while the breaker was open", (s) => s.breaker.rejected);
  gauge("l1_entries", "Entries in the in-process L1 tier", (s) => s.l1?.entries);
  gauge("l1_bytes", "Estimated bytes held by the in-process L1 tier", (s) => s.l1?.bytes);
  gauge("invalidation_trusted", "1 while the in-process tag map is trusted (hits need no tag round trip)", (s) => (s.invalidation.trusted ? 1 : 0));
  gauge("known_tags", "Tags whose versions this instance holds in process", (s) => s.invalidation.knownTags);
}
