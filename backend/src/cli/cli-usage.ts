import { CommanderError, type Command } from "commander";

/** Exit status of a command line that is wrong (unknown option, bad value): nothing was opened or changed. */
export const USAGE_EXIT_CODE = 2;

/** Refuses a bad value: writes one line `error: <message>` and throws a CommanderError with exit status 2. */
export function usageError(command: Command, message: string): never {
  command.error(`error: ${message}`, { exitCode: USAGE_EXIT_CODE, code: "spywatcher.usage" });
}

/**
 * Parsing that reports a bad command line in one line and exit status 2: commander throws instead of exiting
 * (inherited by every subcommand added afterwards), and prints no usage text and no "Did you mean" line.
 */
export function strictParsing(program: Command): Command {
  return program.exitOverride().showSuggestionAfterError(false).showHelpAfterError(false);
}

/** The process exit status for a CommanderError: 0 for --help/--version, 2 for commander's own parse errors. */
export function exitCodeOf(error: CommanderError): number {
  if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help")
    return 0;
  if (error.code.startsWith("commander.") && error.code !== "commander.executeSubCommandAsync") return USAGE_EXIT_CODE;
  return error.exitCode;
}

/** Parses an integer option within bounds, or refuses it naming the option. */
export function integerOption(command: Command, name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isInteger(value) || value < min || value > max)
    usageError(command, `${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  return value;
}

export { CommanderError };
