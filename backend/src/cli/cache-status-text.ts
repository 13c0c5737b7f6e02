import type { SpyCacheStats } from "../cache/stats/cache-stats-report.ts";
import type { CacheStats } from "../cache/stats/cache-stats-types.ts";
import type { LatencySummary } from "../cache/stats/latency-histogram.ts";

/** The human text of `spywatcher cache status`: the fleet's numbers first (what operators ask), then the keyspace. */
export function describeCacheStats(stats: SpyCacheStats): string {
  const lines: string[] = [];
  const { fleet } = stats;
  if (fleet) {
    const range =
      fleet.range.kind === "lifetime"
        ? "since the stats keys were created"
        : `over the last ${Math.round((fleet.range.to - fleet.range.from) / 1_000)} s`;
    lines.push(`fleet (${fleet.activeInstances.length} active instance(s), ${range}):`);
    lines.push(...describeCounts(fleet));
  } else {
    lines.push("fleet: unknown (Redis did not answer the stats read)");
  }
  const { keyspace } = stats;
  lines.push(
    keyspace
      ? `keys: ${keyspace.keys} under this prefix, about ${formatBytes(keyspace.estimatedBytes)} (sampled ${keyspace.sampledKeys})`
      : "keys: not counted",
  );
  lines.push(`evicted keys (server-wide): ${stats.redis.evictedKeys ?? "unknown"}`);
  return `${lines.join("\n")}\n`;
}

function describeCounts(stats: CacheStats): string[] {
  return [
    `  lookups ${stats.lookups}, hit rate ${stats.hitRatePercent === null ? "n/a" : `${stats.hitRatePercent}%`}`,
    `  hits ${stats.hits.total} (L1 ${stats.hits.l1}, L2 ${stats.hits.l2}), stale ${stats.stale}, misses ${stats.misses}, bypasses ${stats.bypasses}, errors ${stats.errors}`,
    `  redis latency ${describeLatency(stats.redisLatencyMs)}`,
    `  loader latency ${describeLatency(stats.loaderLatencyMs)}`,
  ];
}

function describeLatency(summary: LatencySummary): string {
  if (summary.count === 0) return "n/a";
  const ms = (value: number | null) => (value === null ? "n/a" : `${value} ms`);
  return `p50 ${ms(summary.p50Ms)}, p95 ${ms(summary.p95Ms)}, p99 ${ms(summary.p99Ms)} (${summary.count} calls)`;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
