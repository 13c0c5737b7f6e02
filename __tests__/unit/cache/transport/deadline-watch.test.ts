import { describe, expect, it } from "vitest";
import {
  COMMAND_TIMED_OUT,
  DeadlineWatch,
  WatchedCommand,
} from "../../../../backend/src/cache/transport/deadline-watch.ts";
import { rejectionAfter } from "../../../support/cache-test-kit.ts";

/** A GET command as the gateway builds it; no connection needed: the tests answer it (or not) by hand. */
function getCommand(key = "k"): WatchedCommand {
  return new WatchedCommand("get", [key], { replyEncoding: "utf8" });
}

describe("DeadlineWatch: one interval times out many commands", () => {
  it("fails an unanswered command with 'Command timed out', not before timeout - tick and not (much) after the timeout", async () => {
    const watch = new DeadlineWatch(200);
    expect(watch.tickMs).toBe(20);
    const command = getCommand();
    const started = performance.now();
    watch.track(command, started);
    const { ms, error } = await rejectionAfter(command.promise, started);
    expect(error.message).toBe(COMMAND_TIMED_OUT);
    expect(ms).toBeGreaterThanOrEqual(200 - 20 - 1);
    // Upper bound: the timeout plus the event loop's lateness on a busy 2-core machine.
    expect(ms).toBeLessThan(200 + 150);
    expect(watch.pending).toBe(0);
  });

  it("never fails answered commands, and forgets them as new ones arrive", async () => {
    const watch = new DeadlineWatch(100);
    const answered = [getCommand("a"), getCommand("b")];
    const unanswered = getCommand("c");
    const now = performance.now();
    for (const command of [...answered, unanswered]) watch.track(command, now);
    answered[0]!.resolve(Buffer.from("one"));
    answered[1]!.resolve(Buffer.from("two"));
    expect(await Promise.all(answered.map((command) => command.promise))).toEqual(["one", "two"]);
    expect(watch.pending).toBe(3);
    // Answered commands at the front leave when the next one is tracked; the unanswered one stays.
    const next = getCommand("d");
    watch.track(next, performance.now());
    expect(watch.pending).toBe(2);
    next.resolve(Buffer.from("four"));
    await expect(unanswered.promise).rejects.toThrow(COMMAND_TIMED_OUT);
    expect(await next.promise).toBe("four");
    expect(watch.pending).toBe(0);
  });

  it("a command sent long ago fails at the next tick; the interval stops once nothing is in flight", async () => {
    const watch = new DeadlineWatch(1_000);
    const command = getCommand();
    const started = performance.now();
    watch.track(command, started - 5_000);
    expect(watch.running).toBe(true);
    const { ms } = await rejectionAfter(command.promise, started);
    expect(ms).toBeLessThan(watch.tickMs + 150);
    expect(watch.running).toBe(false);
  });

  it("compacts its queue as answers arrive in order: 3,000 in flight, answered but the last, which times out", async () => {
    const watch = new DeadlineWatch(100);
    const commands = Array.from({ length: 3_000 }, (_, i) => getCommand(`k${i}`));
    for (const command of commands) watch.track(command, performance.now());
    for (const [i, command] of commands.slice(0, 2_000).entries()) command.resolve(Buffer.from(String(i)));
    const last = getCommand("last");
    watch.track(last, performance.now());
    expect(watch.pending).toBe(1_001);
    for (const [i, command] of commands.slice(2_000).entries()) command.resolve(Buffer.from(String(2_000 + i)));
    expect(await Promise.all(commands.map((command) => command.promise))).toEqual(commands.map((_, i) => String(i)));
    await expect(last.promise).rejects.toThrow(COMMAND_TIMED_OUT);
    expect(watch.pending).toBe(0);
  });

  it("refuses a timeout that is not positive", () => {
    expect(() => new DeadlineWatch(0)).toThrow(RangeError);
    expect(() => new DeadlineWatch(Number.NaN)).toThrow(RangeError);
  });
});
