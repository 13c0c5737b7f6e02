import { LRUCache } from "lru-cache";
import type { CacheEnvelope } from "./cache-envelope.ts";
import { CACHE_DEFAULTS } from "../cache-defaults.ts";

/** Options of the in-process tier. */
export interface L1Options {
  /** Most entries held (default 10,000). */
  maxEntries?: number;
  /** Most bytes held, each entry counted as twice its stored JSON length plus its key (default 64 MiB). */
  maxBytes?: number;
}

/** Drops remembered per key; past that the oldest are forgotten and the floor rises to them. */
const DROPS_REMEMBERED = 10_000;

/** One held copy: the decoded envelope, the JSON Redis stores, and when Redis last confirmed those bytes. */
interface HeldCopy {
  envelope: CacheEnvelope;
  json: string;
  /**
   * The latest send time (monotonic clock, ms) of a GET that returned exactly `json` or of the SET that stored it:
   * the key held these bytes at some moment after it (docs/cache.md, "Tag invalidation", rule 7).
   */
  confirmedAt: number;
}

/**
 * The optional in-process tier (lru-cache, bounded by entries and bytes). It holds decoded envelopes, so a hit
 * costs no parsing; the caller checks freshness and tag versions on every read, and drops keys announced on the
 * bus. It returns the stored object itself: callers must not mutate cached values.
 */
export class L1Store {
  private readonly lru: LRUCache<string, HeldCopy>;
  /**
   * When each key was last dropped (monotonic ms): a copy read or written before that moment must not come back
   * (a GET answered before another instance's announced change, whose reply arrives after the announcement).
   */
  private readonly dropped: LRUCache<string, number>;
  /** Copies confirmed at or before this are refused: `clear()`, or drops the bounded map above forgot. */
  private floor = 0;

  constructor(options: L1Options = {}) {
    this.lru = new LRUCache<string, HeldCopy>({
      max: options.maxEntries ?? CACHE_DEFAULTS.l1MaxEntries,
      maxSize: options.maxBytes ?? CACHE_DEFAULTS.l1MaxBytes,
      sizeCalculation: (_value, key) => key.length + 64,
    });
    this.dropped = new LRUCache<string, number>({
      max: DROPS_REMEMBERED,
      dispose: (at, _key, reason) => {
        if (reason === "evict" && at > this.floor) this.floor = at;
      },
    });
  }

  /** The envelope held for a full key, if any. */
  get(fullKey: string): CacheEnvelope | undefined {
    return this.lru.get(fullKey)?.envelope;
  }

  /**
   * The envelope held for a full key when Redis confirmed its bytes after `since` (monotonic ms), else
   * undefined (rule 7: what an instance whose tag map is untrusted may serve from here).
   */
  getConfirmedSince(fullKey: string, since: number): CacheEnvelope | undefined {
    const held = this.lru.get(fullKey);
    return held !== undefined && held.confirmedAt > since ? held.envelope : undefined;
  }

  /**
   * The envelope held for `fullKey` when it was decoded from exactly `json` (what Redis just returned for the key),
   * else undefined: a read from Redis of an unchanged entry then costs a string comparison, not a JSON parse, and
   * returns the same value object (so the API's per-value serialization memo applies too). Validity (grace, tag
   * versions) is still the caller's to check, as for any read. Does not count as a use of the entry.
   */
  decoded(fullKey: string, json: string): CacheEnvelope | undefined {
    const held = this.lru.peek(fullKey);
    return held !== undefined && held.json === json ? held.envelope : undefined;
  }

  /**
   * Notes that a GET sent at `sentAt` (monotonic ms) returned exactly the held bytes of `fullKey` (callers have
   * checked with `decoded`). Confirmation only moves forward.
   */
  confirm(fullKey: string, sentAt: number): void {
    const held = this.lru.peek(fullKey);
    if (held !== undefined && sentAt > held.confirmedAt) held.confirmedAt = sentAt;
  }

  /** Drops a copy found past its grace (the LRU keeps no timers or clocks of its own: readers check times). */
  expire(fullKey: string): void {
    this.lru.delete(fullKey);
  }

  /**
   * Holds an envelope and the JSON it is stored as in Redis, confirmed by the GET or SET sent at `confirmedAt`
   * (monotonic ms). Its size is counted as twice the JSON's length (the decoded copy, approximated by its JSON, and
   * the JSON itself) plus the key's.
   */
  set(fullKey: string, envelope: CacheEnvelope, json: string, confirmedAt: number): void {
    if (!(envelope.graceUntil > Date.now())) return;
    // Read or written before the key was last dropped: possibly the very bytes a change replaced.
    if (confirmedAt <= this.floor || confirmedAt <= (this.dropped.peek(fullKey) ?? -1)) return;
    this.lru.set(fullKey, { envelope, json, confirmedAt }, { size: Math.max(1, 2 * json.length + fullKey.length) });
  }

  /**
   * Drops one key (announced as changed, found absent or invalid, or not written), and refuses copies of it read or
   * written before now.
   */
  delete(fullKey: string): void {
    this.lru.delete(fullKey);
    this.dropped.set(fullKey, performance.now());
  }

  /** Drops everything (after lost bus messages, or `clear()`), and refuses copies read or written before now. */
  clear(): void {
    this.lru.clear();
    this.dropped.clear();
    this.floor = performance.now();
  }

  /** Entries and bytes held. */
  get usage(): { entries: number; bytes: number } {
    return { entries: this.lru.size, bytes: this.lru.calculatedSize };
  }
}
