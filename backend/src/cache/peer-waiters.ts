import type { CacheContext } from "./cache-context.ts";
import type { CacheEnvelope } from "./cache-envelope.ts";
import type { EntryReader } from "./entry-reader.ts";

/**
 * Waiting for another process that holds a key's stampede lock to fill it: woken by its "filled" message on the
 * bus, with a poll every `lockPollMs` as a fallback, for at most `lockWaitMs`.
 */
export class PeerWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(
    private readonly ctx: CacheContext,
    private readonly reader: EntryReader,
  ) {
    ctx.bus.on("filled", (fullKey: string) => {
      for (const wake of this.waiting.get(fullKey) ?? []) wake();
    });
  }

  /** Resolves with the entry once it is fresh, newer than `newerThan` and built with `versions`; undefined on timeout. */
  async waitFor(
    fullKey: string,
    tags: readonly string[],
    versions: Map<string, number>,
    newerThan: number,
    accept: (value: unknown) => boolean,
  ): Promise<CacheEnvelope | undefined> {
    const { lockWaitMs, lockPollMs } = this.ctx.options;
    const deadline = Date.now() + lockWaitMs;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return undefined;
      await this.nextSignal(fullKey, Math.min(lockPollMs, remaining));
      const read = await this.reader.read(fullKey, tags).catch(() => undefined);
      const found = read?.envelope;
      if (
        found &&
        found.createdAt > newerThan &&
        Date.now() < found.freshUntil &&
        [...versions].every(([tag, version]) => found.tags[tag] === version) &&
        accept(found.value)
      ) {
        return found;
      }
    }
  }

  private nextSignal(fullKey: string, timeoutMs: number): Promise<void> {
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
