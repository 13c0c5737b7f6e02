/** How a loader race ended. */
export type RaceOutcome<T> =
  | { kind: "value"; value: T }
  | { kind: "error"; error: unknown }
  | { kind: "soft" }
  | { kind: "hard" };

/**
 * Waits for `work`, or for the soft timeout (only when given: there is a stale value to serve instead), or for
 * the hard timeout. Never rejects; the work keeps running either way. Timers are always cleared.
 */
export function raceTimeouts<T>(
  work: Promise<T>,
  softMs: number | undefined,
  hardMs: number | undefined,
): Promise<RaceOutcome<T>> {
  return new Promise((resolve) => {
    const timers: NodeJS.Timeout[] = [];
    let settled = false;
    const finish = (outcome: RaceOutcome<T>) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      resolve(outcome);
    };
    if (softMs !== undefined) timers.push(setTimeout(() => finish({ kind: "soft" }), softMs));
    if (hardMs !== undefined) timers.push(setTimeout(() => finish({ kind: "hard" }), hardMs));
    work.then(
      (value) => finish({ kind: "value", value }),
      (error: unknown) => finish({ kind: "error", error }),
    );
  });
}
