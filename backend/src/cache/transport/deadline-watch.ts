import { failCommand, isSettled, UntimedCommand } from "./ioredis-internals.ts";

/** The error a command gets when the watch times it out (the same message as ioredis's own command timeout). */
export const COMMAND_TIMED_OUT = "Command timed out";

/** A command whose timeout a `DeadlineWatch` enforces instead of a timer of its own. */
export class WatchedCommand extends UntimedCommand {}

/**
 * Times out commands with one interval instead of one timer per command (ioredis's `commandTimeout` creates and
 * clears a timer for every command, a measurable part of an L2 hit). Commands are tracked in the order they are
 * sent, which on one connection is also the order their replies arrive, so answered ones leave from the front
 * of the queue as new ones come in and the queue stays about as long as the number in flight. Every tick (a
 * tenth of the timeout, at most 25 ms) the commands sent at least `timeout - tick` ago are failed with
 * "Command timed out": no caller waits longer than the timeout (plus the event loop's own lateness), none
 * fails before `timeout - tick`. The interval runs only while commands are in flight and never keeps the
 * process alive.
 */
export class DeadlineWatch {
  /** The tick, in ms. */
  readonly tickMs: number;
  private readonly failAfterMs: number;
  private readonly queue: (WatchedCommand | undefined)[] = [];
  /** performance.now() at which each queued command was sent (same index as `queue`). */
  private readonly sentAt: number[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly timeoutMs: number) {
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
    this.tickMs = Math.max(1, Math.min(25, Math.floor(timeoutMs / 10)));
    this.failAfterMs = Math.max(0, timeoutMs - this.tickMs);
  }

  /** Starts the clock of a command sent at `sentAt` (performance.now(), read just before sending it). */
  track(command: WatchedCommand, sentAt: number): void {
    this.dropAnswered();
    this.queue.push(command);
    this.sentAt.push(sentAt);
    if (this.timer === undefined) {
      this.timer = setInterval(this.tick, this.tickMs);
      this.timer.unref();
    }
  }

  /** Commands tracked and not yet known to be answered (for tests). */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** True while the interval runs (it stops once nothing is in flight). */
  get running(): boolean {
    return this.timer !== undefined;
  }

  private readonly tick = (): void => {
    const failBefore = performance.now() - this.failAfterMs;
    const { queue } = this;
    while (this.head < queue.length) {
      const command = queue[this.head]!;
      if (!isSettled(command)) {
        if (this.sentAt[this.head]! > failBefore) break;
        failCommand(command, new Error(COMMAND_TIMED_OUT));
      }
      queue[this.head] = undefined;
      this.head += 1;
    }
    this.dropAnswered();
    if (this.head === queue.length && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };

  /** Forgets answered commands at the front, so they can be collected at once; compacts the queue now and then. */
  private dropAnswered(): void {
    const { queue } = this;
    while (this.head < queue.length && isSettled(queue[this.head]!)) {
      queue[this.head] = undefined;
      this.head += 1;
    }
    if (this.head === queue.length) {
      queue.length = 0;
      this.sentAt.length = 0;
      this.head = 0;
    } else if (this.head >= 1_024 && this.head * 2 >= queue.length) {
      queue.splice(0, this.head);
      this.sentAt.splice(0, this.head);
      this.head = 0;
    }
  }
}
