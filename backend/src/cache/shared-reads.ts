import type { CacheContext } from "./cache-context.ts";
import type { EntryRead, EntryReader } from "./entry-reader.ts";

/** A read in flight, joined only by callers arriving in the same invalidation generation. */
interface ReadFlight {
  generation: number;
  promise: Promise<EntryRead>;
}

/**
 * In-process single flight of L2 reads: concurrent callers of one key share one GET while the tag map is trusted
 * and no invalidation arrived since the GET was sent (a later invalidation starts a new generation, and later
 * callers a new read). This is the hit path of every `remember`, so it is built to cost one GET and one promise
 * on top of the connection's own: the breaker, latency and stats bookkeeping run inside that promise's callbacks,
 * and the entry is decoded and validated synchronously there.
 */
export class SharedReads {
  private readonly flights = new Map<string, ReadFlight>();

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
    const existing = this.flights.get(fullKey);
    if (existing !== undefined && existing.generation === tags.generation) return existing.promise;
    return this.start(fullKey, tags.generation);
  }

  /** Number of reads in flight (for tests and stats). */
  get inFlight(): number {
    return this.flights.size;
  }

  private start(fullKey: string, generation: number): Promise<EntryRead> {
    const { gateway } = this.ctx;
    const started = performance.now();
    let reply: Promise<string | null>;
    try {
      reply = gateway.sendGet(fullKey);
    } catch (error) {
      return Promise.reject(error); // the breaker refused: nothing was sent
    }
    const flight: ReadFlight = { generation, promise: reply as unknown as Promise<EntryRead> };
    flight.promise = reply.then(
      (raw) => {
        gateway.succeeded(started);
        const read = this.reader.accept(fullKey, raw, undefined);
        if (!(read instanceof Promise)) {
          this.forget(fullKey, flight);
          return read;
        }
        // Rare: a tag the map does not know yet; the flight stays joinable until its versions are read.
        return read.finally(() => this.forget(fullKey, flight));
      },
      (error: unknown) => {
        gateway.failed(started, error);
        this.forget(fullKey, flight);
        throw error;
      },
    );
    this.flights.set(fullKey, flight);
    return flight.promise;
  }

  private forget(fullKey: string, flight: ReadFlight): void {
    if (this.flights.get(fullKey) === flight) this.flights.delete(fullKey);
  }
}
