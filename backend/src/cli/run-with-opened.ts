import type { Command } from "commander";
import { AppError } from "../errors.ts";

/**
 * Runs one CLI command's work on resources opened for it (a key service, a cache, ...) and always closes them.
 * Expected failures (AppError: bad input, unknown id, Redis or PostgreSQL unavailable) become a one-line
 * `error: ...` and exit status 1 instead of a stack trace; anything else is a bug and is rethrown.
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
    if (error instanceof AppError) command.error(`error: ${error.message}`, { exitCode: 1, code: error.code });
    throw error;
  }
  try {
    await work(opened);
  } catch (error) {
    if (error instanceof AppError) command.error(`error: ${error.message}`, { exitCode: 1, code: error.code });
    throw error;
  } finally {
    await opened.close();
  }
}
