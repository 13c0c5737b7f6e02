import { SingleBar } from "cli-progress";
import { Option, type Command } from "commander";
import { ANALYTICS_TYPES, type AnalyticsType } from "../analytics/analytics-catalog.ts";
import { DEFAULT_LIMIT, MAX_LIMIT } from "../analytics/analytics-types.ts";
import { parseSince } from "../analytics/analytics-window.ts";
import { analyticsEntry } from "../analytics/cached-analytics.ts";
import { integerOption, usageError } from "./cli-usage.ts";
import type { OpenedCache } from "./opened-cache.ts";

/** What `cache warm` did. */
export interface WarmReport {
  total: number;
  computed: number;
  alreadyCached: number;
  failed: { guildId: string; type: AnalyticsType; since: string; error: string }[];
}

/** Parallel loads with `--parallel` and no number; without the flag, two. */
const DEFAULT_PARALLEL = 4;
const MAX_PARALLEL = 16;
const SNOWFLAKE = /^\d{17,20}$/;

/** Registers `cache warm` (docs/cli.md). */
export function registerWarmCommand(
  cache: Command,
  run: (command: Command, work: (opened: OpenedCache) => Promise<void>) => Promise<void>,
  write: (text: string) => void,
  progressStream?: NodeJS.WritableStream,
): void {
  cache
    .command("warm")
    .description("compute analytics into the cache, so the first dashboard requests hit")
    .requiredOption("--guild <id...>", "guild ids to warm (repeatable)")
    .addOption(
      new Option("--type <type...>", "analytics to warm (repeatable; default: all)").choices([...ANALYTICS_TYPES]),
    )
    .option("--since <window...>", 'window starts, ISO time or relative ("15m", "24h", "7d"); repeatable (default 7d)')
    .option("--limit <n>", `items per analytic (1-${MAX_LIMIT})`, String(DEFAULT_LIMIT))
    .option("--parallel [n]", `loads at once (1-${MAX_PARALLEL}; the flag alone: ${DEFAULT_PARALLEL}; default 2)`)
    .option("--force", "recompute even entries that are fresh")
    .option("--json", "print JSON")
    .action(
      async (
        options: {
          guild: string[];
          type?: AnalyticsType[];
          since?: string[];
          limit: string;
          parallel?: string | true;
          force?: boolean;
          json?: boolean;
        },
        command: Command,
      ) => {
        const bad = options.guild.find((id) => !SNOWFLAKE.test(id));
        if (bad !== undefined) usageError(command, `--guild "${bad}" must be a Discord snowflake (17-20 digits)`);
        const limit = integerOption(command, "--limit", options.limit, 1, MAX_LIMIT);
        const parallel =
          options.parallel === undefined
            ? 2
            : options.parallel === true
              ? DEFAULT_PARALLEL
              : integerOption(command, "--parallel", options.parallel, 1, MAX_PARALLEL);
        const now = new Date();
        const windows = [...new Set(options.since ?? ["7d"])].map((raw) => {
          const since = parseSince(raw, now);
          if (!since.ok) usageError(command, `--since ${since.message}`);
          return since.since;
        });
        const types = options.type ?? [...ANALYTICS_TYPES];
        await run(command, async (opened) => {
          const plan = {
            guilds: [...new Set(options.guild)],
            types,
            windows,
            limit,
            parallel,
            force: options.force ?? false,
          };
          const report = await warm(opened, plan, progressStream);
          if (options.json) write(`${JSON.stringify(report)}\n`);
          else {
            write(
              `warmed ${report.total} analytics: ${report.computed} computed, ${report.alreadyCached} already cached, ${report.failed.length} failed\n`,
            );
            for (const failure of report.failed)
              write(`failed: ${failure.type} of guild ${failure.guildId} since ${failure.since}: ${failure.error}\n`);
          }
          if (report.failed.length > 0) process.exitCode = 1;
        });
      },
    );
}

/** Reads each (guild, analytic, window) through the cache, `parallel` at a time, with a progress bar on a terminal. */
async function warm(
  opened: OpenedCache,
  plan: { guilds: string[]; types: AnalyticsType[]; windows: Date[]; limit: number; parallel: number; force: boolean },
  progressStream: NodeJS.WritableStream = process.stderr,
): Promise<WarmReport> {
  const jobs = plan.guilds.flatMap((guildId) =>
    plan.windows.flatMap((since) => plan.types.map((type) => ({ guildId, type, since }))),
  );
  const report: WarmReport = { total: jobs.length, computed: 0, alreadyCached: 0, failed: [] };
  const analytics = opened.analytics();
  // cli-progress draws only on a terminal (noTTYOutput false): piped output gets the summary line alone.
  const bar = new SingleBar({
    stream: progressStream,
    format: "warming {bar} {value}/{total} analytics | {guild} {type}",
    hideCursor: true,
  });
  bar.start(jobs.length, 0, { guild: "", type: "" });
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      try {
        const entry = analyticsEntry({ analytics }, job.type, {
          guildId: job.guildId,
          since: job.since,
          limit: plan.limit,
        });
        if (plan.force) {
          const refreshed = await opened.cache.warm([entry], { force: true });
          if (refreshed.failed.length > 0) throw new Error(refreshed.failed[0]!.error);
          report.computed += 1;
        } else {
          const result = await opened.cache.rememberWithMeta(entry.key, entry.ttl, entry.loader, entry.options);
          if (result.status === "hit") report.alreadyCached += 1;
          else if (result.status === "miss") report.computed += 1;
          else if (result.status === "bypass")
            throw new Error("computed, but Redis did not take it (the cache is bypassing Redis)");
          else if (result.staleBecauseOfError) throw new Error("PostgreSQL failed; only an older value is cached");
          else {
            // Stale within grace: the background refresh it started would be cut short when the CLI exits; refresh now.
            const refreshed = await opened.cache.warm([entry], { force: true });
            if (refreshed.failed.length > 0) throw new Error(refreshed.failed[0]!.error);
            report.computed += 1;
          }
        }
      } catch (error) {
        report.failed.push({
          guildId: job.guildId,
          type: job.type,
          since: job.since.toISOString(),
          error: describeError(error),
        });
      }
      bar.increment(1, { guild: job.guildId, type: job.type });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(plan.parallel, Math.max(1, jobs.length)) }, () => worker()));
  } finally {
    bar.stop();
  }
  return report;
}

/** An error's message followed by its causes' (the analytics error wraps PostgreSQL's, which says what is wrong). */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (
    let current: unknown = error;
    current !== undefined && parts.length < 3;
    current = (current as { cause?: unknown }).cause
  ) {
    parts.push(current instanceof Error ? current.message : String(current));
    if (!(current instanceof Error)) break;
  }
  return parts.join(": ");
}
