import type { CacheContext } from "../cache-context.ts";

/**
 * Wake-ups for processes waiting on another's loader: the lock holder publishes "filled" on the bus after its
 * write, and every waiter of that key wakes at once (a poll interval is the fallback).
 */
export class PeerWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(ctx: CacheContext) {
    ctx.bus.on("filled", (fullKey: string) => {
      for (const wake of this.waiting.get(fullKey) ?? []) wake();
    });
  }

  /** Resolves when `fullKey` is announced as filled, or after `timeoutMs`. */
  nextSignal(fullKey: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiting.get(fullKey);
      if (!set) this.waiting.set(fullKey, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        set!.delete(done);
        if (set!.size === 0 && this.waiting.get(fullKey) === set) this.waiting.delete(fullKey);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      set.add(done);
    });
  }
}
