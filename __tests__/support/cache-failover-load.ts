import { setTimeout as delay } from "node:timers/promises";
import { CacheUnavailableError, type CacheStatus, type SpyCache } from "../../backend/src/cache/index.ts";

/** One entry the load reads: its logical key, its one tag, and the master port that served both when seeded. */
export interface LoadKey {
  key: string;
  tag: string;
  master: number;
}

/** One `rememberWithMeta` call as the load saw it (times are performance.now() ms). */
export interface CallRecord {
  key: string;
  /** Index of the cache instance (in `caches`) that served it. */
  instance: number;
  startedAt: number;
  endedAt: number;
  status: CacheStatus | "error";
  /** The version the returned value carries (`<key>@<version>`), or -1 when the call failed. */
  version: number;
  /** The lowest version a correct answer may carry: the one set by the last invalidation resolved before the call. */
  floor: number;
  error?: unknown;
}

/** One `invalidateByTag` call of the writer. */
export interface InvalidationRecord {
  tag: string;
  startedAt: number;
  endedAt: number;
  outcome: "resolved" | "unavailable" | "error";
  error?: unknown;
}

/** Options of a `FailoverLoad`. */
export interface FailoverLoadOptions {
  /** The cache instances readers spread over (alternately); the writer uses caches[0]. */
  caches: SpyCache[];
  keys: LoadKey[];
  /** Concurrent reader loops per master (default 3): a reader reads only keys of one master, so readers of a dead
   * master's keys waiting on Redis do not slow the reads of other masters' keys, as with independent requests. */
  readersPerMaster?: number;
  /** Pause between two calls of one reader, so the Node process leaves CPU to the six redis-servers (default 2 ms). */
  readerPauseMs?: number;
  /** Pause between two writer rounds (default 25 ms). */
  writerPauseMs?: number;
  /** TTL of every entry (default "10m": nothing expires during a test, so every miss has a cause). */
  ttl?: `${number}m`;
}

/**
 * Concurrent readers calling `rememberWithMeta` (the loader returns the key's current value, `<key>@<version>`)
 * and one writer that bumps a tag's keys to a new version, invalidates the tag and `set`s one of its keys, in a
 * loop. Every call is recorded. A reader notes, before each call, the version the last resolved invalidation of
 * its key's tag promised; an answer below it is a stale read.
 */
export class FailoverLoad {
  readonly calls: CallRecord[] = [];
  readonly invalidations: InvalidationRecord[] = [];
  readonly setErrors: unknown[] = [];
  /** Loader runs (every miss or bypass runs one). */
  loaderRuns = 0;
  private readonly versions = new Map<string, number>();
  private readonly floors = new Map<string, number>();
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly options: FailoverLoadOptions) {
    for (const { key } of options.keys) this.versions.set(key, 0);
  }

  /** The value the loader returns for `key` now. */
  valueOf(key: string): string {
    return `${key}@${this.versions.get(key)!}`;
  }

  /** Loads every key once on every cache (miss or hit), so the run starts from stored entries. */
  async seed(): Promise<void> {
    for (const cache of this.options.caches) for (const entry of this.options.keys) await this.call(cache, entry);
  }

  /** Starts the readers and the writer. */
  start(): void {
    this.running = true;
    const masters = [...new Set(this.options.keys.map((entry) => entry.master))];
    const perMaster = this.options.readersPerMaster ?? 3;
    let reader = 0;
    for (const master of masters) {
      const keys = this.options.keys.filter((entry) => entry.master === master);
      for (let i = 0; i < perMaster; i += 1, reader += 1) {
        this.loops.push(this.readLoop(this.options.caches[reader % this.options.caches.length]!, keys, i));
      }
    }
    this.loops.push(this.writeLoop());
  }

  /** Stops the loops and waits for their calls in flight. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Moves every key of `tag` to a new version and invalidates the tag on `cache`; the new floor holds once it resolves. */
  async bumpAndInvalidate(cache: SpyCache, tag: string): Promise<InvalidationRecord> {
    const keys = this.options.keys.filter((entry) => entry.tag === tag).map((entry) => entry.key);
    for (const key of keys) this.versions.set(key, this.versions.get(key)! + 1);
    const startedAt = performance.now();
    const record: InvalidationRecord = { tag, startedAt, endedAt: 0, outcome: "resolved" };
    try {
      await cache.invalidateByTag(tag);
      // From here on no caller may read an older version of these keys.
      for (const key of keys) this.floors.set(key, this.versions.get(key)!);
    } catch (error) {
      // Rejected: the cache promised nothing; readers may see the old value until a later invalidation resolves.
      record.outcome = error instanceof CacheUnavailableError ? "unavailable" : "error";
      record.error = error;
    }
    record.endedAt = performance.now();
    this.invalidations.push(record);
    return record;
  }

  /** One recorded `rememberWithMeta` of `entry` on `cache`. */
  async call(cache: SpyCache, entry: LoadKey): Promise<CallRecord> {
    const floor = this.floors.get(entry.key) ?? 0;
    const instance = this.options.caches.indexOf(cache);
    const startedAt = performance.now();
    const loader = async () => {
      this.loaderRuns += 1;
      return this.valueOf(entry.key);
    };
    let record: CallRecord;
    try {
      const result = await cache.rememberWithMeta(entry.key, this.options.ttl ?? "10m", loader, { tags: [entry.tag] });
      const version = versionIn(entry.key, result.value);
      record = {
        key: entry.key,
        instance,
        startedAt,
        endedAt: performance.now(),
        status: result.status,
        version,
        floor,
      };
    } catch (error) {
      record = {
        key: entry.key,
        instance,
        startedAt,
        endedAt: performance.now(),
        status: "error",
        version: -1,
        floor,
        error,
      };
    }
    this.calls.push(record);
    return record;
  }

  private async readLoop(cache: SpyCache, keys: LoadKey[], offset: number): Promise<void> {
    // Readers of one master start at different keys, so no two of them read in lockstep.
    for (let i = offset; this.running; i += 1) {
      await this.call(cache, keys[i % keys.length]!);
      await delay(this.options.readerPauseMs ?? 2);
    }
  }

  private async writeLoop(): Promise<void> {
    const cache = this.options.caches[0]!;
    const tags = [...new Set(this.options.keys.map((entry) => entry.tag))];
    for (let i = 0; this.running; i += 1) {
      const tag = tags[i % tags.length]!;
      await this.bumpAndInvalidate(cache, tag);
      const entry = this.options.keys.find((candidate) => candidate.tag === tag)!;
      try {
        // set fails open (a failed write is only logged); it must never throw.
        await cache.set(entry.key, this.valueOf(entry.key), { tags: [tag], ttl: this.options.ttl ?? "10m" });
      } catch (error) {
        this.setErrors.push(error);
      }
      await delay(this.options.writerPauseMs ?? 25);
    }
  }
}

/** The version in a value `<key>@<version>`; -2 when the value is not one the loader could have returned. */
function versionIn(key: string, value: unknown): number {
  if (typeof value !== "string" || !value.startsWith(`${key}@`)) return -2;
  return Number(value.slice(key.length + 1));
}
