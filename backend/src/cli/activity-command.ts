import type { Command } from "commander";
import { ACTIVITY_NAMESPACE } from "../activity/activity-keys.ts";
import { parseTime } from "../activity/activity-query.ts";
import {
  createActivityRebuildRepository,
  type ActivityRebuildRepository,
} from "../activity/activity-rebuild-repository.ts";
import { rebuildActivity } from "../activity/activity-rebuild.ts";
import { ActivityRetention } from "../activity/activity-retention.ts";
import type { CacheStructures } from "../cache/structures/data-structures.ts";
import type { AppConfig } from "../config/config.ts";
import { openDatabase } from "../composition/connections.ts";
import type { PrismaClient } from "../db/prisma-client.ts";
import { AppError, type ValidationError } from "../errors.ts";
import { createLogger, type Logger } from "../logging/logger.ts";
import { openServiceCache } from "./cache-command.ts";
import { usageError } from "./cli-usage.ts";
import { runWithOpened } from "./run-with-opened.ts";

/** What the `activity` commands work on. */
export interface OpenedActivity {
  structures: CacheStructures;
  /** Opens PostgreSQL (only `rebuild` needs it). */
  repository(): ActivityRebuildRepository;
  logger: Logger;
  close(): Promise<void>;
}

/** What the `activity` commands need. */
export interface ActivityCommandDependencies {
  open: () => Promise<OpenedActivity>;
  /** Where results are written (default stdout). */
  write?: (text: string) => void;
}

/** Opens the service's cache (its `activity` namespace) on the configured Redis, and PostgreSQL when asked. */
export async function openActivity(config: AppConfig): Promise<OpenedActivity> {
  const opened = await openServiceCache(config);
  let prisma: PrismaClient | undefined;
  return {
    structures: opened.cache.structures(ACTIVITY_NAMESPACE),
    repository: () => createActivityRebuildRepository((prisma ??= openDatabase(config, 2))),
    logger: createLogger({ level: "warn" }),
    async close() {
      await opened.close();
      await prisma?.$disconnect();
    },
  };
}

/** Registers `spywatcher activity rebuild|cleanup` (docs/activity.md). */
export function registerActivityCommand(program: Command, deps: ActivityCommandDependencies): void {
  const write = deps.write ?? ((text: string) => process.stdout.write(text));
  const activity = program
    .command("activity")
    .description("live guild activity in Redis: rebuild from PostgreSQL, retention cleanup");

  activity
    .command("rebuild")
    .description(
      "rebuild a guild's activity counters, leaderboards and streaks from PostgreSQL (every bucket ending after --since, whole)",
    )
    .requiredOption("--guild <id>", "guild id (a Discord snowflake)")
    .requiredOption("--since <time>", 'ISO 8601 time or a relative window ("24h", "30d")')
    .action(async function (this: Command, options: { guild: string; since: string }) {
      if (!/^\d{17,20}$/.test(options.guild)) usageError(this, "--guild must be a Discord snowflake (17-20 digits)");
      let since: number;
      try {
        since = parseTime("since", options.since, Date.now());
      } catch (error) {
        usageError(this, `--${(error as ValidationError).message}`);
      }
      await runWithOpened(this, deps.open, async (opened) => {
        const report = await rebuildActivity({
          structures: opened.structures,
          repository: opened.repository(),
          logger: opened.logger,
          guildId: options.guild,
          since: new Date(since),
        });
        const replayed = Object.values(report.events).reduce((sum, n) => sum + n, 0);
        write(
          `guild ${report.guildId}: rebuilt from ${report.from} (events read from ${report.readFrom}): ${report.deletedKeys} keys and ` +
            `${report.deletedFields} hash fields deleted, ${replayed} events replayed ` +
            `(${Object.entries(report.events)
              .map(([kind, n]) => `${kind} ${n}`)
              .join(", ")})\n`,
        );
        if (report.dropped > 0)
          throw new AppError(
            "E_ACTIVITY_UNAVAILABLE",
            `${report.dropped} metrics could not be written (Redis failed): run the rebuild again`,
          );
      });
    });

  activity
    .command("cleanup")
    .description("remove activity data past its retention (SCAN, bounded pages); --dry-run only counts")
    .option("--dry-run", "count what would be removed or repaired, change nothing", false)
    .action(async function (this: Command, options: { dryRun: boolean }) {
      await runWithOpened(this, deps.open, async (opened) => {
        const retention = new ActivityRetention({ structures: opened.structures, logger: opened.logger });
        const report = await retention.runToEnd({ dryRun: options.dryRun });
        const verb = options.dryRun ? "would be" : "were";
        write(
          `${report.scanned} activity keys scanned: ${report.deleted} past retention ${verb} deleted, ` +
            `${report.expiryRepaired} without a TTL ${verb} given theirs, ${report.daysTrimmed} old streak days and ` +
            `${report.bucketsTrimmed} old minute/hour counters ${verb} trimmed${options.dryRun ? " (dry run)" : ""}\n`,
        );
      });
    });
}
