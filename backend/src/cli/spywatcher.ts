import { Command, CommanderError } from "commander";
import { ConfigError, loadConfig, type AppConfig } from "../config/config.ts";
import { runMigrations } from "../db/migrator.ts";
import { openActivity, registerActivityCommand } from "./activity-command.ts";
import { openApiKeyService, registerApiKeysCommand } from "./api-keys-command.ts";
import { openServiceCache, registerCacheCommand } from "./cache-command.ts";
import { exitCodeOf, strictParsing, USAGE_EXIT_CODE } from "./cli-usage.ts";
import { createLogger } from "../logging/logger.ts";

/** Loads the configuration or exits with status 2 naming every bad variable. */
export function configOrExit(): AppConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(USAGE_EXIT_CODE);
    }
    throw error;
  }
}

// Strict parsing: an unknown option or a bad value is one `error: ...` line and exit status 2 (docs/cli.md).
const program = strictParsing(
  new Command().name("spywatcher").description("Operate the SpyWatcher backend: migrations, cache, API keys, activity"),
);

program
  .command("migrate")
  .description("create the database if missing and apply pending SQL migrations")
  .action(async () => {
    const config = configOrExit();
    const logger = createLogger({ level: config.log.level, pretty: config.log.pretty });
    const result = await runMigrations({ databaseUrl: config.database.url, logger });
    process.stdout.write(
      `${result.databaseCreated ? "database created; " : ""}` +
        `${result.applied.length} applied, ${result.alreadyApplied.length} already applied\n`,
    );
  });

registerApiKeysCommand(program, { open: () => openApiKeyService(configOrExit()) });
registerCacheCommand(program, { open: () => openServiceCache(configOrExit()) });
registerActivityCommand(program, { open: () => openActivity(configOrExit()) });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // A command's expected failure was already written as one line (run-with-opened.ts): only the status is left.
  if (!(error instanceof CommanderError)) throw error;
  process.exitCode = exitCodeOf(error);
}
