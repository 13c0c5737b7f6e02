/** Backoff delays that can all be cut short at once (the writer's `close()` does it when its time is up). */
export class InterruptibleSleeps {
  private readonly sleepers = new Set<() => void>();
  private interrupted = false;

  /** Resolves after `ms`, or at once when `interruptAll()` was or is called. */
  sleep(ms: number): Promise<void> {
    if (this.interrupted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  /** Wakes every sleeper now, and makes every later `sleep()` return at once. */
  interruptAll(): void {
    this.interrupted = true;
    for (const wake of [...this.sleepers]) wake();
  }
}
