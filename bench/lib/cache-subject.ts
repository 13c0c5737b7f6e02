/** The loader of every bench read: it must never run, because every key read was seeded first. */
export async function missLoader(): Promise<never> {
  throw new Error("cache bench: a read missed a seeded key and ran its loader");
}

/**
 * One cache library configured one way, seen by the hit benches only through this shape, so the limit, our cache
 * and its competitors are measured by the same loop.
 */
export interface CacheSubject {
  /** Row label, e.g. "bentocache L1+L2". */
  name: string;
  /** Stores `value` under every key (the library's own write path, so reads hit its own format). */
  seed(keys: string[], value: unknown): Promise<void>;
  /**
   * Reads one key the cache-aside way (our `remember`, bentocache's `getOrSet`, cache-manager's `wrap`), with a
   * loader that throws: every key is seeded, so a loader run means a miss, which stops the bench.
   */
  read(key: string): Promise<unknown>;
  /** Closes every connection the subject opened. */
  close(): Promise<void>;
}
