import { LRUCache } from "lru-cache";
import type { CacheEnvelope } from "./cache-envelope.ts";
import { CACHE_DEFAULTS } from "../cache-defaults.ts";

/** Options of the in-process tier. */
export interface L1Options {
  /** Most entries held (default 10,000). */
  maxEntries?: number;
  /** Most bytes held, counted as the stored JSON length (default 64 MiB). */
  maxBytes?: number;
}

/**
 * The optional in-process tier (lru-cache, bounded by entries and bytes). It holds decoded envelopes, so a hit
 * costs no parsing; the caller checks freshness and tag versions on every read, and drops keys announced on the
 * bus. It returns the stored object itself: callers must not mutate cached values.
 */
export class L1Store {
  private readonly lru: LRUCache<string, CacheEnvelope>;

  constructor(options: L1Options = {}) {
    this.lru = new LRUCache<string, CacheEnvelope>({
      max: options.maxEntries ?? CACHE_DEFAULTS.l1MaxEntries,
      maxSize: options.maxBytes ?? CACHE_DEFAULTS.l1MaxBytes,
      sizeCalculation: (_value, key) => key.length + 64,
    });
  }

  /** The envelope held for a full key, if any. */
  get(fullKey: string): CacheEnvelope | undefined {
    return this.lru.get(fullKey);
  }

  /** Drops a copy found past its grace (the LRU keeps no timers or clocks of its own: readers check times). */
  expire(fullKey: string): void {
    this.lru.delete(fullKey);
  }

  /** Holds an envelope; `bytes` is the size of its stored JSON. */
  set(fullKey: string, envelope: CacheEnvelope, bytes: number): void {
    if (!(envelope.graceUntil > Date.now())) return;
    this.lru.set(fullKey, envelope, { size: Math.max(1, bytes + fullKey.length) });
  }

  /** Drops one key. */
  delete(fullKey: string): void {
    this.lru.delete(fullKey);
  }

  /** Drops everything (after lost bus messages, or `clear()`). */
  clear(): void {
    this.lru.clear();
  }

  /** Entries and bytes held. */
  get usage(): { entries: number; bytes: number } {
    return { entries: this.lru.size, bytes: this.lru.calculatedSize };
  }
}
