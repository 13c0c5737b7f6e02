import { Option, type Command } from "commander";
import { ANALYTICS_TYPES, type AnalyticsType } from "../analytics/analytics-catalog.ts";
import type { SpyCacheStats } from "../cache/index.ts";
import { labelStats, type LabelStats } from "../cache/stats/cache-stats-types.ts";
import type { AlertHistoryEntry } from "../ops/alert-history.ts";
import { analyticsKeyspace, type AnalyticsTypeKeyspace } from "../ops/analytics-keyspace.ts";
import { firingFromHistory } from "../ops/firing-alerts.ts";
import type { HealthScore } from "../ops/health-score.ts";
import { describeCacheStats } from "./cache-status-text.ts";
import type { OpenedCache } from "./opened-cache.ts";

/** The schema id of `cache status --json` (docs/operations.md documents every field); bumped on a breaking change. */
export const CACHE_STATUS_SCHEMA = "spywatcher.cache-status/1";

/** `cache status --json`: the stats fields at the top level, plus the schema id, time, health score and the optional parts. */
export type CacheStatusJson = Partial<SpyCacheStats> & {
  schema: typeof CACHE_STATUS_SCHEMA;
  generatedAt: string;
  healthScore?: HealthScore;
  /** With --detailed or --type. */
  types?: AnalyticsTypeStatus[];
  /** With --alerts (then the only part besides schema and generatedAt). */
  alerts?: { firing: AlertHistoryEntry[]; recent: AlertHistoryEntry[] };
};

/** One analytic in `cache status --detailed/--type`: its keys, TTLs and memory, and the fleet's lookups of it. */
export type AnalyticsTypeStatus = AnalyticsTypeKeyspace & {
  /** Fleet-wide since the stats keys were created (`fleet.byLabel[type]`); null when the fleet stats were unreadable. */
  lookups: LabelStats | null;
};

const NO_LOOKUPS = { hits: 0, stale: 0, misses: 0, bypasses: 0 };

const RECENT_ALERTS = 10;
/** History entries read to find what fires (ALERT_HISTORY_MAX_ENTRIES is the cap of the stream). */
const HISTORY_READ = 1_000;

/** Registers `cache status` (docs/cli.md). */
export function registerStatusCommand(
  cache: Command,
  run: (command: Command, work: (opened: OpenedCache) => Promise<void>) => Promise<void>,
  write: (text: string) => void,
): void {
  cache
    .command("status")
    .description("this application's cache statistics for the whole fleet, health score, keys and memory")
    .option("--no-keyspace", "skip counting keys (a SCAN of the prefix on every master)")
    .option("--detailed", "per analytic: keys, hit rate, TTL left, memory")
    .addOption(new Option("--type <type...>", "per analytic, only these (repeatable)").choices([...ANALYTICS_TYPES]))
    .option("--alerts", "only the alerts firing now and the recent ones (exit 1 when any fires)")
    .option("--json", `print JSON (schema ${CACHE_STATUS_SCHEMA})`)
    .action(
      async (
        options: { keyspace: boolean; detailed?: boolean; type?: AnalyticsType[]; alerts?: boolean; json?: boolean },
        command: Command,
      ) => {
        await run(command, async ({ cache: spy, ops, redis, cacheKeys }) => {
          const generatedAt = new Date().toISOString();
          if (options.alerts) {
            const history = await ops.alertHistory.recent(HISTORY_READ);
            const alerts = { firing: firingFromHistory(history), recent: history.slice(0, RECENT_ALERTS) };
            write(
              options.json
                ? `${JSON.stringify({ schema: CACHE_STATUS_SCHEMA, generatedAt, alerts } satisfies CacheStatusJson)}\n`
                : describeAlerts(alerts),
            );
            if (alerts.firing.length > 0) process.exitCode = 1;
            return;
          }
          const [stats, healthScore] = await Promise.all([
            spy.getStats({ includeKeyspace: options.keyspace }),
            ops.scorer.score(),
          ]);
          const wantTypes = options.detailed || options.type;
          const keyspace = wantTypes
            ? await analyticsKeyspace(redis, cacheKeys, options.type ?? ANALYTICS_TYPES)
            : undefined;
          const types = keyspace?.map(
            (entry): AnalyticsTypeStatus => ({
              ...entry,
              lookups: stats.fleet ? (stats.fleet.byLabel?.[entry.type] ?? labelStats(NO_LOOKUPS)) : null,
            }),
          );
          if (options.json) {
            const json: CacheStatusJson = {
              schema: CACHE_STATUS_SCHEMA,
              generatedAt,
              ...stats,
              healthScore,
              ...(types ? { types } : {}),
            };
            write(`${JSON.stringify(json)}\n`);
            return;
          }
          write(describeCacheStats(stats));
          write(
            `health score: ${healthScore.score}/100 (${healthScore.grade}; hit rate ${healthScore.components.hitRate}, response time ${healthScore.components.responseTime}, error rate ${healthScore.components.errorRate}; ${healthScore.basis === "fleet-window" ? `fleet, last ${Math.round(healthScore.windowMs / 1000)} s` : "this instance only"})\n`,
          );
          if (types) write(describeTypes(types));
        });
      },
    );
}

function describeTypes(types: AnalyticsTypeStatus[]): string {
  const lines = ["per analytic (lookups and hit rate: fleet, since the stats keys were created):"];
  for (const type of types) {
    const ttl = type.ttlSecondsLeft
      ? `TTL left ${type.ttlSecondsLeft.min}-${type.ttlSecondsLeft.max} s (avg ${type.ttlSecondsLeft.avg})`
      : "TTL left n/a";
    const { lookups } = type;
    const rate =
      lookups === null
        ? "hit rate unknown"
        : `${lookups.lookups} lookups, hit rate ${lookups.hitRatePercent === null ? "n/a" : `${lookups.hitRatePercent}%`} (hits ${lookups.hits}, stale ${lookups.stale}, misses ${lookups.misses}, bypasses ${lookups.bypasses})`;
    lines.push(
      `  ${type.type.padEnd(8)} ${String(type.keys).padStart(6)} keys, ${ttl}, about ${type.estimatedBytes} bytes; ${rate}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function describeAlerts(alerts: { firing: AlertHistoryEntry[]; recent: AlertHistoryEntry[] }): string {
  const lines = [alerts.firing.length === 0 ? "firing: none" : `firing: ${alerts.firing.length}`];
  for (const alert of alerts.firing)
    lines.push(`  [${alert.severity}] ${alert.alert} on ${alert.instance} since ${alert.since}: ${alert.message}`);
  lines.push(alerts.recent.length === 0 ? "recent: none" : "recent:");
  for (const entry of alerts.recent)
    lines.push(
      `  ${entry.at} ${entry.state.padEnd(8)} [${entry.severity}] ${entry.alert} on ${entry.instance}: ${entry.message}`,
    );
  return `${lines.join("\n")}\n`;
}
