/**
 * One cache library configured one way, seen by the hit benches only through this shape, so the limit, our cache
 * and its competitors are measured by the same loop.
 */
export interface CacheSubject {
  /** Row label, e.g. "bentocache L1+L2". */
  name: string;
  /** Stores `value` under every key (the library's own write path, so reads hit its own format). */
  seed(keys: string[], value: unknown): Promise<void>;
  /** Reads one key; must resolve to the stored value. */
  get(key: string): Promise<unknown>;
  /** Closes every connection the subject opened. */
  close(): Promise<void>;
}
