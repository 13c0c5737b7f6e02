import { type Command, Option } from "commander";
import { ANALYTICS_TYPES, guildAnalyticsTag, type AnalyticsType } from "../analytics/analytics-catalog.ts";
import { validatePart } from "../cache/keys/key-builder.ts";
import { logged, optionalGuild } from "../ops/logged-invalidations.ts";
import { registerCleanupCommand, type Confirm } from "./cache-cleanup-command.ts";
import { registerInvalidationsCommand } from "./cache-invalidations-command.ts";
import { registerStatusCommand } from "./cache-status-command.ts";
import { registerWarmCommand } from "./cache-warm-command.ts";
import { usageError } from "./cli-usage.ts";
import type { OpenedCache } from "./opened-cache.ts";
import { runWithOpened } from "./run-with-opened.ts";

export { openServiceCache, type OpenedCache } from "./opened-cache.ts";

/** What the `cache` commands need. */
export interface CacheCommandDependencies {
  /** Opens the service's cache (called only when a command runs). */
  open: () => Promise<OpenedCache>;
  /** Where results are written (default stdout). */
  write?: (text: string) => void;
  /** Where the progress bar is drawn (default stderr; drawn only when it is a terminal). */
  progressStream?: NodeJS.WritableStream;
  /** Asks before `cleanup --force` (default: a y/N prompt on the terminal; refused when stdin is not one). */
  confirm?: Confirm;
}

const SNOWFLAKE = /^\d{17,20}$/;

/**
 * Registers `cache status`, `cache warm`, `cache cleanup`, `cache invalidations`, `cache invalidate` and `cache clear` on a commander
 * program: the operator's side of the cache (docs/cli.md).
 */
export function registerCacheCommand(program: Command, deps: CacheCommandDependencies): Command {
  const write = deps.write ?? ((text: string) => void process.stdout.write(text));
  const cache = program.command("cache").description("inspect, warm, clean up and invalidate the analytics cache");

  const run = (command: Command, work: (opened: OpenedCache) => Promise<void>) =>
    runWithOpened(command, deps.open, work);

  registerStatusCommand(cache, run, write);
  registerWarmCommand(cache, run, write, deps.progressStream);
  registerCleanupCommand(cache, run, write, deps.confirm);
  registerInvalidationsCommand(cache, run, write);

  cache
    .command("invalidate")
    .description("invalidate cached analytics by tag, or every analytic (or some) of a guild")
    .option("--tag <tag...>", "tags to invalidate (repeatable)")
    .option("--guild <id>", "a guild whose analytics to invalidate")
    .addOption(new Option("--type <type...>", "with --guild: only these analytics").choices([...ANALYTICS_TYPES]))
    .option("--soft", "serve the old value for a moment while one recompute runs (default: hard)")
    .action(
      async (options: { tag?: string[]; guild?: string; type?: AnalyticsType[]; soft?: boolean }, command: Command) => {
        if (!options.tag?.length === !options.guild) usageError(command, "give either --tag <tag...> or --guild <id>");
        if (options.guild !== undefined && !SNOWFLAKE.test(options.guild))
          usageError(command, `--guild "${options.guild}" must be a Discord snowflake (17-20 digits)`);
        for (const tag of options.tag ?? []) {
          try {
            validatePart(tag, "tag");
          } catch (error) {
            usageError(command, `--tag ${(error as Error).message}`);
          }
        }
        const tags =
          options.tag ?? (options.type ?? [...ANALYTICS_TYPES]).map((type) => guildAnalyticsTag(type, options.guild!));
        await run(command, async ({ cache: spy, ops }) => {
          const mode = options.soft ? "soft" : "hard";
          const result = await logged(
            ops.invalidationLog,
            {
              source: "cli",
              cause: "cli: cache invalidate",
              action: options.guild ? "guild" : "tags",
              tags,
              mode,
              ...optionalGuild(tags),
            },
            () => spy.invalidateByTagsWithReport(tags, { mode }),
          );
          write(
            `invalidated ${result.tags.length} tag(s), about ${result.entries} entries: ${result.tags.join(", ")}\n`,
          );
        });
      },
    );

  cache
    .command("clear")
    .description("delete every entry of this application's cache (its prefix only; never FLUSHDB)")
    .option("--yes", "confirm")
    .action(async (options: { yes?: boolean }, command: Command) => {
      if (!options.yes)
        usageError(command, "clear deletes every cached entry of this application: add --yes to confirm");
      await run(command, async ({ cache: spy, ops }) => {
        const deleted = await logged(
          ops.invalidationLog,
          { source: "cli", cause: "cli: cache clear", action: "clear", tags: [], mode: "delete" },
          () => spy.clear(),
        );
        write(`deleted ${deleted} entries\n`);
      });
    });
  return cache;
}
