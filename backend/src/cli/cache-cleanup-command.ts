import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { logged } from "../ops/logged-invalidations.ts";
import type { CleanupReport } from "../ops/cache-maintenance.ts";
import { cleanupRecord } from "../ops/invalidation-log.ts";
import { usageError } from "./cli-usage.ts";
import type { OpenedCache } from "./opened-cache.ts";

/** Asks the operator to confirm; resolves true only for "y" or "yes". */
export type Confirm = (question: string) => Promise<boolean>;

/** A confirmation on the terminal (stdin/stderr); false when stdin is not a terminal. */
export const confirmOnTerminal: Confirm = async (question) => {
  if (!process.stdin.isTTY) return false;
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `)).trim());
  } finally {
    prompt.close();
  }
};

/** Registers `cache cleanup` (docs/cli.md). */
export function registerCleanupCommand(
  cache: Command,
  run: (command: Command, work: (opened: OpenedCache) => Promise<void>) => Promise<void>,
  write: (text: string) => void,
  confirm: Confirm = confirmOnTerminal,
): void {
  cache
    .command("cleanup")
    .description(
      "free memory: invalidated entries and entries past grace (default), orphaned locks, or everything (--force)",
    )
    .option(
      "--expired-only",
      "entries invalidated since they were built, and entries past their grace period (the default)",
    )
    .option("--locks", "stampede locks without an expiry (orphaned); held locks expire by themselves and are kept")
    .option("--dry-run", "report what would be removed; remove nothing")
    .option("--force", "delete every cache entry of this application (its prefix only); asks to confirm")
    .option("--yes", "with --force: do not ask")
    .option("--json", "print JSON")
    .action(
      async (
        options: {
          expiredOnly?: boolean;
          locks?: boolean;
          dryRun?: boolean;
          force?: boolean;
          yes?: boolean;
          json?: boolean;
        },
        command: Command,
      ) => {
        if (options.force && (options.locks || options.expiredOnly))
          usageError(command, "--force deletes every entry: do not combine it with --locks or --expired-only");
        if (options.yes && !options.force) usageError(command, "--yes only confirms --force");
        const dryRun = options.dryRun ?? false;
        if (
          options.force &&
          !dryRun &&
          !options.yes &&
          !(await confirm("Delete every cache entry of this application?"))
        ) {
          usageError(command, "--force not confirmed: answer y on a terminal, or add --yes");
        }
        await run(command, async ({ cache: spy, ops }) => {
          if (options.force) {
            const report = dryRun
              ? { kind: "force", dryRun, wouldDelete: await ops.maintenance.countEntries() }
              : {
                  kind: "force",
                  dryRun,
                  deleted: await logged(
                    ops.invalidationLog,
                    { source: "cli", cause: "cli: cache cleanup --force", action: "clear", tags: [], mode: "delete" },
                    () => spy.clear(),
                  ),
                };
            write(
              options.json
                ? `${JSON.stringify(report)}\n`
                : dryRun
                  ? `would delete ${report.wouldDelete} entries (dry run)\n`
                  : `deleted ${report.deleted} entries\n`,
            );
            return;
          }
          const reports: CleanupReport[] = [];
          if (options.locks) reports.push(await ops.maintenance.locks({ dryRun }));
          if (options.expiredOnly || !options.locks) {
            const report = await ops.maintenance.expired({ dryRun });
            if (!dryRun && report.deleted > 0) {
              await ops.invalidationLog.record(cleanupRecord("cli", "cli: cache cleanup --expired-only", report));
            }
            reports.push(report);
          }
          if (reports.some((report) => report.failed > 0)) process.exitCode = 1;
          write(
            options.json
              ? `${JSON.stringify(reports.length === 1 ? reports[0] : reports)}\n`
              : reports.map(describeReport).join(""),
          );
        });
      },
    );
}

function describeReport(report: CleanupReport): string {
  const verb = report.dryRun ? "would remove" : "removed";
  const failed = report.failed > 0 ? `; ${report.failed} deletes failed (run it again)` : "";
  if (report.kind === "locks")
    return `locks: scanned ${report.scanned}, ${verb} ${report.orphanedLocks} orphaned${failed}\n`;
  const removed = report.dryRun ? report.invalidated + report.pastGrace : report.deleted;
  return `entries: scanned ${report.scanned}, ${verb} ${removed} (${report.invalidated} invalidated, ${report.pastGrace} past grace; ${report.bytes} bytes)${failed}\n`;
}
