import type { Command } from "commander";
import type { InvalidationLogEntry } from "../ops/invalidation-log.ts";
import { integerOption, usageError } from "./cli-usage.ts";
import type { OpenedCache } from "./opened-cache.ts";

const SNOWFLAKE = /^\d{17,20}$/;

/** Registers `cache invalidations` (docs/cli.md): the newest entries of the shared invalidation log. */
export function registerInvalidationsCommand(
  cache: Command,
  run: (command: Command, work: (opened: OpenedCache) => Promise<void>) => Promise<void>,
  write: (text: string) => void,
): void {
  cache
    .command("invalidations")
    .description("the newest invalidations (event-driven, admin, CLI, scheduled cleanup) from the shared log")
    .option("--limit <n>", "entries to show (1-1000)", "20")
    .option("--guild <id>", "only this guild's")
    .option("--json", "print JSON")
    .action(async (options: { limit: string; guild?: string; json?: boolean }, command: Command) => {
      const limit = integerOption(command, "--limit", options.limit, 1, 1_000);
      if (options.guild !== undefined && !SNOWFLAKE.test(options.guild))
        usageError(command, `--guild "${options.guild}" must be a Discord snowflake (17-20 digits)`);
      await run(command, async ({ ops }) => {
        const entries = await ops.invalidationLog.recent({
          limit,
          ...(options.guild ? { guildId: options.guild } : {}),
        });
        write(options.json ? `${JSON.stringify({ entries })}\n` : describe(entries));
      });
    });
}

function describe(entries: InvalidationLogEntry[]): string {
  if (entries.length === 0) return "no invalidations logged\n";
  return entries
    .map((entry) => {
      const what = entry.tags.length > 0 ? entry.tags.join(",") : (entry.target ?? entry.action);
      const guild = entry.guildId ? ` guild ${entry.guildId}` : "";
      const error = entry.error ? ` (${entry.error})` : "";
      return `${entry.at} ${entry.source.padEnd(9)} ${entry.action.padEnd(7)} ${entry.mode.padEnd(6)} ${String(entry.count).padStart(5)} entries ${entry.durationMs} ms${guild} ${what} by ${entry.cause} ${entry.outcome}${error}\n`;
    })
    .join("");
}
