import type { CacheContext } from "../cache-context.ts";
import type { EntryRead, EntryReader } from "./entry-reader.ts";

/** Most keys with a slot; past it the slots are dropped (reads in flight then only lose later joiners). */
const MAX_SLOTS = 10_000;

/**
 * One key's place for its read in flight. Slots live as long as the key is read: adding and deleting a Map entry
 * per read instead made V8 keep (promote) every read's garbage until a full collection, which measured as a
 * third of the CPU of an L2 hit at 50 reads in flight.
 */
interface ReadSlot {
  /** The read in flight, if any. */
  promise: Promise<EntryRead> | undefined;
  /** The invalidation generation it was sent in: only callers of the same generation may join it. */
  generation: number;
}

/**
 * In-process single flight of L2 reads: concurrent callers of one key share one GET while the tag map is trusted
 * and no invalidation arrived since the GET was sent (a later invalidation starts a new generation, and later
 * callers a new read). This is the hit path of every `remember`, so it is built to cost one GET and one promise
 * on top of the connection's own: the breaker, latency and stats bookkeeping run inside that promise's callbacks,
 * and the entry is decoded and validated synchronously there.
 */
export class SharedReads {
  private readonly slots = new Map<string, ReadSlot>();

  constructor(
    private readonly ctx: CacheContext,
    private readonly reader: EntryReader,
  ) {}

  /** The read of `fullKey` (`hintTags`: the tags the caller expects it to carry). Redis errors reject. */
  read(fullKey: string, hintTags: readonly string[]): Promise<EntryRead> {
    const { tags } = this.ctx;
    // Untrusted: this caller's own read (with tag versions from Redis) is the only proof that it sees
    // invalidations that resolved before it came.
    if (!tags.isTrusted()) return this.reader.read(fullKey, hintTags);
    let slot = this.slots.get(fullKey);
    if (slot === undefined) {
      if (this.slots.size >= MAX_SLOTS) this.slots.clear();
      slot = { promise: undefined, generation: -1 };
      this.slots.set(fullKey, slot);
    } else if (slot.promise !== undefined && slot.generation === tags.generation) {
      return slot.promise;
    }
    return this.start(fullKey, slot, tags.generation);
  }

  /** Number of reads in flight (for tests). */
  get inFlight(): number {
    let count = 0;
    for (const slot of this.slots.values()) if (slot.promise !== undefined) count += 1;
    return count;
  }

  private start(fullKey: string, slot: ReadSlot, generation: number): Promise<EntryRead> {
    const { gateway } = this.ctx;
    const started = performance.now();
    const breaker = gateway.breakerFor(fullKey);
    let reply: Promise<string | null>;
    try {
      reply = gateway.sendGet(fullKey, started, breaker);
    } catch (error) {
      return Promise.reject(error); // the breaker refused: nothing was sent
    }
    const epoch = breaker.epoch;
    const promise: Promise<EntryRead> = reply.then(
      (raw) => {
        gateway.succeeded(breaker, started, epoch);
        const read = this.reader.accept(fullKey, raw, undefined, started);
        if (!(read instanceof Promise)) {
          if (slot.promise === promise) slot.promise = undefined;
          return read;
        }
        // Rare: a tag the map does not know yet; the read stays joinable until its versions are known.
        return read.finally(() => {
          if (slot.promise === promise) slot.promise = undefined;
        });
      },
      (error: unknown) => {
        gateway.failed(breaker, started, error, epoch);
        if (slot.promise === promise) slot.promise = undefined;
        throw error;
      },
    );
    slot.promise = promise;
    slot.generation = generation;
    return promise;
  }
}
