import { CommanderError, type Command } from "commander";
import { CacheError } from "../cache/cache-errors.ts";
import { AppError } from "../errors.ts";

/** Failures a command reports as one line: bad input found late, unknown ids, Redis or PostgreSQL unavailable. */
export function isExpectedFailure(error: unknown): error is AppError | CacheError {
  return error instanceof AppError || error instanceof CacheError;
}

/**
 * Runs one CLI command's work on resources opened for it (a key service, a cache, ...) and closes them before
 * anything is reported, so a failed command still leaves the cache's instance registry and statistics clean.
 * An expected failure (see `isExpectedFailure`) is written as one `error: ...` line (no usage text: the command
 * line was fine) and thrown as a CommanderError with exit code 1, which the entry point turns into the exit
 * status; anything else is a bug and is rethrown as it is.
 */
export async function runWithOpened<T extends { close(): Promise<void> }>(
  command: Command,
  open: () => Promise<T>,
  work: (opened: T) => Promise<void>,
): Promise<void> {
  let opened: T;
  try {
    opened = await open();
  } catch (error) {
    throw reportable(command, error);
  }
  let failure: unknown;
  try {
    await work(opened);
  } catch (error) {
    failure = error;
  }
  await opened.close();
  if (failure !== undefined) throw reportable(command, failure);
}

function reportable(command: Command, error: unknown): unknown {
  if (!isExpectedFailure(error)) return error;
  const message = `error: ${error.message}`;
  const output = command.configureOutput();
  if (output.writeErr) output.writeErr(`${message}\n`);
  else process.stderr.write(`${message}\n`);
  return new CommanderError(1, error.code, message);
}
