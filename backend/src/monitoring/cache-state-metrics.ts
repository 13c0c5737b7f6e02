import { Counter, Gauge, type Registry } from "prom-client";
import type { SpyCacheStats } from "../cache/index.ts";
import type { CircuitState } from "../cache/transport/circuit-breaker.ts";
import { withTimeout } from "../lib/with-timeout.ts";
import type { CacheStatsSource } from "./alert-sample.ts";

/** Numeric value of each breaker state in `<prefix>breaker_state`. */
export const BREAKER_STATE_VALUE: Record<CircuitState, number> = { closed: 0, "half-open": 1, open: 2 };

/** Numeric value of each breaker state in `cache_circuit_breaker_state`, as source design 003 numbers them. */
export const SEED_BREAKER_STATE_VALUE: Record<CircuitState, number> = { closed: 0, open: 1, "half-open": 2 };

/** How long one stats read serves the metrics of a scrape (they are collected concurrently). */
const SNAPSHOT_REUSE_MS = 1_000;

/** The parts of the cache's stats these metrics show: all held in process. */
type CacheStateStats = Pick<SpyCacheStats, "breaker" | "l1" | "invalidation"> & Partial<Pick<SpyCacheStats, "locks">>;

/**
 * Exposes the cache's state beyond its counters (which `registerCacheMetrics` covers), read at scrape time with
 * `getLocalStats()` (in process, no Redis call, so a scrape answers during any outage); a cache without it is asked
 * `getStats()` without the keyspace SCAN, bounded by `timeoutMs` (default 1,000), and a read past that leaves these
 * series out of that scrape rather than holding /metrics:
 * - `<prefix>breaker_state` (0 closed, 1 half-open, 2 open), `<prefix>breaker_opens_total`, `<prefix>breaker_rejected_total`
 * - `<prefix>l1_entries`, `<prefix>l1_bytes` (0 when L1 is disabled)
 * - `<prefix>invalidation_trusted` (1 while hits need no tag round trip), `<prefix>known_tags`,
 *   `<prefix>tag_version_reads_total` (tag versions read from Redis: what an untrusted map costs)
 * - source design 003's names, unprefixed: `cache_circuit_breaker_state` (0 closed, 1 open, 2 half-open) and
 *   `cache_active_locks` (stampede locks this instance holds)
 */
export function registerCacheStateMetrics(
  registry: Registry,
  cache: CacheStatsSource,
  namePrefix = "spywatcher_cache_",
  timeoutMs = 1_000,
): void {
  let last: { at: number; stats: Promise<CacheStateStats | undefined> } | undefined;
  const read = (): Promise<CacheStateStats | undefined> => {
    const local = cache.getLocalStats?.();
    if (local) return Promise.resolve(local);
    const now = Date.now();
    if (!last || now - last.at > SNAPSHOT_REUSE_MS) {
      last = {
        at: now,
        stats: withTimeout(cache.getStats({ includeKeyspace: false }), timeoutMs, "cache stats").catch(() => undefined),
      };
    }
    return last.stats;
  };
  const gauge = (
    name: string,
    help: string,
    value: (stats: CacheStateStats) => number | undefined,
    fullName = `${namePrefix}${name}`,
  ) =>
    new Gauge({
      name: fullName,
      help,
      registers: [registry],
      async collect() {
        const stats = await read();
        const current = stats ? value(stats) : undefined;
        // Unknown: no series (reset() would export an unlabelled 0, a false "closed" breaker).
        if (current === undefined) this.remove();
        else this.set(current);
      },
    });
  const counter = (name: string, help: string, value: (stats: CacheStateStats) => number) =>
    new Counter({
      name: `${namePrefix}${name}`,
      help,
      registers: [registry],
      async collect() {
        const stats = await read();
        this.reset();
        if (stats) this.inc(value(stats));
        else this.remove();
      },
    });

  gauge(
    "breaker_state",
    "Circuit breaker in front of Redis: 0 closed, 1 half-open, 2 open",
    (s) => BREAKER_STATE_VALUE[s.breaker.state],
  );
  counter("breaker_opens_total", "Times the circuit breaker opened", (s) => s.breaker.opens);
  counter("breaker_rejected_total", "Redis calls refused while the breaker was open", (s) => s.breaker.rejected);
  gauge("l1_entries", "Entries in the in-process L1 tier", (s) => s.l1?.entries ?? 0);
  gauge("l1_bytes", "Estimated bytes held by the in-process L1 tier", (s) => s.l1?.bytes ?? 0);
  gauge("invalidation_trusted", "1 while the in-process tag map is trusted (hits need no tag round trip)", (s) =>
    s.invalidation.trusted ? 1 : 0,
  );
  gauge("known_tags", "Tags whose versions this instance holds in process", (s) => s.invalidation.knownTags);
  counter(
    "tag_version_reads_total",
    "Tag versions read from Redis (reads that could not rely on the in-process tag map)",
    (s) => s.invalidation.versionReads,
  );
  gauge(
    "",
    "Circuit breaker in front of Redis: 0 closed, 1 open, 2 half-open (source design 003)",
    (s) => SEED_BREAKER_STATE_VALUE[s.breaker.state],
    "cache_circuit_breaker_state",
  );
  gauge("", "Stampede locks this instance holds now", (s) => s.locks?.held ?? undefined, "cache_active_locks");
}
