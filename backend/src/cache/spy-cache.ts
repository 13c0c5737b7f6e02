import { EventEmitter } from "node:events";
import { withTimeout } from "../lib/with-timeout.ts";
import type { z } from "zod";
import type { RedisClient } from "../redis/redis-connections.ts";
import type { CacheContext } from "./cache-context.ts";
import { CacheClosedError, CacheUnavailableError, NotACounterError } from "./cache-errors.ts";
import type { Cache, CacheResult, Duration, InvalidateOptions, RememberOptions, SetOptions } from "./cache-types.ts";
import { milliseconds, parseDuration } from "./duration.ts";
import { EntryReader } from "./read/entry-reader.ts";
import { CallPlanner } from "./call-planner.ts";
import { KeyScanner } from "./keys/key-scanner.ts";
import { INCREMENT_COUNTER } from "./transport/lua-script.ts";
import type { NodeBreakers } from "./transport/node-breakers.ts";
import { RememberFlow } from "./remember/remember-flow.ts";
import type { RememberPlan } from "./remember/remember-plan.ts";
import { collectStats, localStats, type SpyCacheStats } from "./stats/cache-stats-report.ts";
import { isValueEntry, rememberMany, warm, type WarmEntry, type WarmReport } from "./read/batch-operations.ts";
import { CacheStructures } from "./structures/data-structures.ts";

/** The options of a call made without any (shared, never mutated: a default `{}` would be allocated per call). */
const NO_OPTIONS: RememberOptions<never> = Object.freeze({});

/** What `remember` returns of a result. */
function valueOfResult<T>(result: CacheResult<T>): T {
  return result.value;
}

/** What `rememberWithMeta` returns of a result. */
function wholeResult<T>(result: CacheResult<T>): CacheResult<T> {
  return result;
}

/** Result of a tag invalidation. */
export interface InvalidationResult {
  tags: string[];
  /** Distinct keys written under these tags since their last invalidation (HyperLogLog, about ±1%). */
  entries: number;
  approximate: boolean;
}

/** Longest wait for each step of `close()` that talks to Redis (leaving the bus, the final stats flush). */
const CLOSE_STEP_MS = 1_000;

/**
 * The SpyWatcher cache: the `Cache` contract plus batch remember, warm, hard delete by tag, stats and close.
 * Every read fails open (Redis down: a miss, or the loader runs directly); operations that promise an effect
 * on Redis (invalidate, purge, clear, counters) reject with E_CACHE_UNAVAILABLE instead.
 * Events: "refresh:done", "refresh:error", "refresh:skipped" ({key, reason}), "bypass" ({key}).
 */
export class SpyCache extends EventEmitter implements Cache {
  private readonly reader: EntryReader;
  private readonly flow: RememberFlow;
  private readonly scanner: KeyScanner;
  private closing: Promise<void> | undefined;
  private readonly planner: CallPlanner;

  constructor(
    private readonly ctx: CacheContext,
    private readonly ownedSubscriber: RedisClient | undefined,
  ) {
    super();
    this.reader = new EntryReader(ctx);
    this.flow = new RememberFlow(ctx, this.reader);
    this.scanner = new KeyScanner(ctx);
    this.planner = new CallPlanner(ctx);
    ctx.tags.onSoftBump = (tags) => this.flow.refreshSoftlyInvalidated(tags);
    ctx.bus.on("reset", () => ctx.l1?.clear());
    ctx.bus.on("keys", (keys: string[]) => {
      if (keys.includes("*")) ctx.l1?.clear();
      else for (const key of keys) ctx.l1?.delete(key);
    });
  }

  /** This instance's id on the invalidation bus. */
  get instanceId(): string {
    return this.ctx.bus.instanceId;
  }

  /**
   * The per-master circuit breakers in front of the cache's connection. Other users of the same connection share
   * them (the service's rate limiter does), so a master judged down by one is skipped by all at once.
   */
  get breakers(): NodeBreakers {
    return this.ctx.gateway.breakers;
  }

  /** True while the in-process tag map is trusted (hits then cost no tag round trip). */
  get trusted(): boolean {
    return this.ctx.tags.isTrusted();
  }

  /**
   * Resolves once the in-process tag map is trusted (the bus works), so hits need one round trip; rejects after
   * `timeoutMs` (default 5,000). The cache is usable before: it then reads tag versions from Redis.
   */
  ready(timeoutMs = 5_000): Promise<void> {
    if (this.ctx.tags.isTrusted()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.ctx.bus.off("trusted", onTrusted);
        reject(new CacheUnavailableError("ready (no bus ping came back)"));
      }, timeoutMs);
      const onTrusted = () => {
        clearTimeout(timer);
        resolve();
      };
      this.ctx.bus.once("trusted", onTrusted);
    });
  }

  /** The fresh value of `key`, or undefined (missing, stale, invalidated, not matching `schema`, or Redis down). */
  async get<T>(key: string, options: { schema?: z.ZodType<T> } = NO_OPTIONS): Promise<T | undefined> {
    this.assertOpen();
    const fullKey = this.ctx.keys.entry(key);
    try {
      const { envelope, tier } = await this.reader.read(fullKey);
      if (!envelope || Date.now() >= envelope.freshUntil) return undefined;
      if (!options.schema) return envelope.value as T;
      const parsed = options.schema.safeParse(envelope.value);
      if (parsed.success) this.ctx.stats.recordHit(tier ?? "l2");
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores a value with the current versions of its tags. Fails open: a failed write is only logged. */
  async set<T>(key: string, value: T, options: SetOptions = {}): Promise<void> {
    this.assertOpen();
    const fullKey = this.ctx.keys.entry(key);
    const tags = this.planner.validTags(options.tags);
    try {
      const versions = await this.ctx.tags.current(tags);
      await this.reader.write(fullKey, this.planner.envelope(value, options.ttl, options.grace, versions));
      this.announce([fullKey]);
    } catch (error) {
      this.ctx.logger?.debug({ err: error, key }, "cache set failed");
    }
  }

  /** Deletes one key everywhere (Redis, this L1, other instances' L1). False if absent or Redis is down. */
  async delete(key: string): Promise<boolean> {
    this.assertOpen();
    const fullKey = this.ctx.keys.entry(key);
    this.ctx.l1?.delete(fullKey);
    try {
      const removed = await this.ctx.gateway.call((c) => c.unlink(fullKey), fullKey);
      this.announce([fullKey]);
      return removed > 0;
    } catch {
      return false;
    }
  }

  /** True when `key` holds a fresh, valid value. */
  async exists(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  /** Fresh values of many keys (undefined where missing, stale or invalidated). One MGET on a single node. */
  async mget<T>(keys: string[]): Promise<(T | undefined)[]> {
    const fullKeys = keys.map((key) => this.ctx.keys.entry(key));
    try {
      const now = Date.now();
      const envelopes = await this.reader.readMany(fullKeys);
      return envelopes.map((envelope) => (envelope && now < envelope.freshUntil ? (envelope.value as T) : undefined));
    } catch {
      return keys.map(() => undefined);
    }
  }

  /** Stores many values. */
  async mset<T>(entries: { key: string; value: T; options?: SetOptions }[]): Promise<void> {
    await Promise.all(entries.map((entry) => this.set(entry.key, entry.value, entry.options)));
  }

  /** Adds `by` (default 1) to an integer counter, creating it at 0; `ttl` is set when the counter has none. */
  async increment(key: string, by = 1, options: { ttl?: Duration } = {}): Promise<number> {
    const fullKey = this.ctx.keys.entry(key);
    const ttlMs = options.ttl === undefined ? 0 : parseDuration(options.ttl);
    try {
      return Number(
        await this.ctx.gateway.call((c) => INCREMENT_COUNTER.run(c, [fullKey], [Math.trunc(by), ttlMs]), fullKey),
      );
    } catch (error) {
      if (error instanceof Error && /not an integer|out of range/.test(error.message))
        throw new NotACounterError(key, error);
      throw new CacheUnavailableError("increment", error);
    }
  }

  /** Subtracts `by` (default 1) from an integer counter. */
  decrement(key: string, by = 1, options: { ttl?: Duration } = {}): Promise<number> {
    return this.increment(key, -by, options);
  }

  /** Hash, list and set operations and pipelined counters under `<prefix>:<namespace>:`, behind this cache's breaker and timeouts (data-structures.ts). */
  structures(namespace: string): CacheStructures {
    return new CacheStructures(this.ctx.gateway, this.ctx.keys, namespace);
  }

  /** Cache-aside; see `rememberWithMeta`. */
  remember<T>(
    key: string,
    ttl: Duration,
    loader: () => Promise<T>,
    options: RememberOptions<T> = NO_OPTIONS,
  ): Promise<T> {
    let plan: RememberPlan<T>;
    try {
      plan = this.plan(key, ttl, options);
    } catch (error) {
      return Promise.reject(error); // bad key, tag or duration, or closed: a rejection, like every other failure
    }
    return this.flow.run(plan, loader, valueOfResult);
  }

  /** Same as `remember`. */
  getOrSet<T>(key: string, ttl: Duration, loader: () => Promise<T>, options?: RememberOptions<T>): Promise<T> {
    return this.remember(key, ttl, loader, options);
  }

  /** Cache-aside with stampede protection, grace, timeouts and fail-open; says how the value was obtained. */
  rememberWithMeta<T>(
    key: string,
    ttl: Duration,
    loader: () => Promise<T>,
    options: RememberOptions<T> = NO_OPTIONS,
  ): Promise<CacheResult<T>> {
    let plan: RememberPlan<T>;
    try {
      plan = this.plan(key, ttl, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.flow.run(plan, loader, wholeResult);
  }

  /** An in-process answer (fresh hit, or copy while Redis is out), synchronously, or undefined; see `Cache`. */
  peekWithMeta<T>(
    key: string,
    ttl: Duration,
    loader: () => Promise<T>,
    options: RememberOptions<T> = NO_OPTIONS,
  ): CacheResult<T> | undefined {
    let plan: RememberPlan<T>;
    try {
      plan = this.plan(key, ttl, options);
    } catch {
      return undefined; // rememberWithMeta rejects with the reason
    }
    return this.flow.peek(plan, loader);
  }

  /**
   * Batch cache-aside: reads every key at once and calls `loader` ONCE with the logical keys that missed; it
   * returns their values (a Map or a record by key). Values the loader does not return come back undefined.
   */
  rememberMany<T>(
    keys: string[],
    ttl: Duration,
    loader: (missingKeys: string[]) => Promise<Map<string, T> | Record<string, T>>,
    options: SetOptions & { schema?: z.ZodType<T> } = {},
  ): Promise<(T | undefined)[]> {
    return rememberMany(
      this.ctx,
      this.reader,
      this.planner.validTags(options.tags),
      keys,
      ttl,
      loader,
      options,
      (value, versions) => this.planner.envelope(value, ttl, options.grace, versions),
    );
  }

  /**
   * Fills entries ahead of demand, a few at a time. An entry is document 001's `{ key, value, options: { ttl, tags } }`
   * (stored as given) or `{ key, ttl, loader, options }` (computed when missing, or always with `force`).
   */
  warm(entries: WarmEntry[], options: { force?: boolean; concurrency?: number } = {}): Promise<WarmReport> {
    return warm(entries, options, async (entry) => {
      if (isValueEntry(entry)) return this.store(entry.key, entry.value, entry.options);
      const ttl = entry.ttl ?? entry.options?.ttl ?? milliseconds(this.ctx.options.defaultTtlMs);
      if (options.force) return this.refreshNow(entry.key, ttl, entry.loader, entry.options);
      const result = await this.rememberWithMeta(entry.key, ttl, entry.loader, entry.options);
      // A bypass computed the value but could not store it: not warmed.
      if (result.status === "bypass") throw new CacheUnavailableError("warm");
    });
  }

  /**
   * Invalidates every entry carrying `tag` in every process before resolving (hard unless `{ mode: "soft" }`);
   * resolves to the number of entries covered (approximate). `invalidateByTagsWithReport` gives the whole report.
   */
  async invalidateByTag(tag: string, options?: InvalidateOptions): Promise<number> {
    return (await this.invalidateByTagsWithReport([tag], options)).entries;
  }

  /** `invalidateByTagsWithReport`, resolving to the number of entries covered (as document 001 logs it). */
  async invalidateByTags(tags: string[], options?: InvalidateOptions): Promise<number> {
    return (await this.invalidateByTagsWithReport(tags, options)).entries;
  }

  /**
   * Makes every entry carrying any of `tags` unreadable in every process before resolving: one version bump per
   * tag (O(tags), cluster-safe), then waits until every live instance acknowledged, or W. `{ mode: "soft" }`
   * makes them stale instead, for at most `softInvalidationStaleMs` after each instance learns of it (docs/cache.md).
   */
  async invalidateByTagsWithReport(tags: string[], options?: InvalidateOptions): Promise<InvalidationResult> {
    this.assertOpen();
    const unique = [...new Set(this.planner.validTags(tags))];
    if (unique.length === 0) return { tags: [], entries: 0, approximate: true };
    let bumped: { versions: Record<string, number>; previous: Record<string, number>; entries: number };
    try {
      bumped = await this.ctx.tags.bump(unique);
    } catch (error) {
      throw new CacheUnavailableError("invalidateByTags", error);
    }
    const softFrom = options?.mode === "soft" ? bumped.previous : undefined;
    this.ctx.tags.apply(bumped.versions, softFrom);
    try {
      await this.ctx.bus.announceInvalidation(bumped.versions, softFrom);
    } catch (error) {
      // The versions changed in Redis, but instances trusting their map may not know yet: say so.
      throw new CacheUnavailableError("invalidateByTags (announce)", error);
    }
    return { tags: unique, entries: bumped.entries, approximate: true };
  }

  /** Hard delete for data-deletion requests: invalidates `tag`, then deletes the bytes of every entry carrying it. */
  async purgeTag(tag: string): Promise<{ invalidated: InvalidationResult; scanned: number; deleted: number }> {
    const invalidated = await this.invalidateByTagsWithReport([tag]);
    this.flow.lastGood.forgetTagged(tag);
    try {
      return { invalidated, ...(await this.scanner.deleteTagged(tag)) };
    } catch (error) {
      throw new CacheUnavailableError("purgeTag", error);
    }
  }

  /**
   * Deletes the bytes of entries invalidated by a tag bump (they would expire by TTL anyway; this frees them now).
   * Scans every entry of this prefix: run it from the CLI (`spywatcher cache cleanup`), not on a request path.
   */
  async sweepInvalidated(): Promise<{ scanned: number; deleted: number; bytes: number; failed: number }> {
    try {
      return await this.scanner.sweepInvalidated();
    } catch (error) {
      throw new CacheUnavailableError("sweepInvalidated", error);
    }
  }

  /** Deletes this cache's entries whose logical key matches a Redis glob (SCAN on every master). */
  async deleteByPattern(pattern: string): Promise<number> {
    const match = this.ctx.keys.entryPattern(pattern);
    try {
      const deleted = await this.scanner.deleteMatching(match);
      this.ctx.l1?.clear();
      this.announce(["*"]);
      return deleted;
    } catch (error) {
      throw new CacheUnavailableError("deleteByPattern", error);
    }
  }

  /** Same as `deleteByPattern`: this cache's entries whose logical key matches a glob, on every master. */
  clearPattern(pattern: string): Promise<number> {
    return this.deleteByPattern(pattern);
  }

  /**
   * Deletes these keys everywhere (Redis, this L1, other instances' L1); resolves to how many existed. One UNLINK
   * per key (keys of a cluster live in different slots); rejects E_CACHE_UNAVAILABLE when Redis fails.
   */
  async deleteMany(keys: string[]): Promise<number> {
    this.assertOpen();
    const fullKeys = [...new Set(keys.map((key) => this.ctx.keys.entry(key)))];
    if (fullKeys.length === 0) return 0;
    for (const fullKey of fullKeys) this.ctx.l1?.delete(fullKey);
    try {
      const removed = await Promise.all(fullKeys.map((fullKey) => this.ctx.gateway.call((c) => c.unlink(fullKey))));
      this.announce(fullKeys);
      return removed.reduce((sum, count) => sum + count, 0);
    } catch (error) {
      throw new CacheUnavailableError("deleteMany", error);
    }
  }

  /** Deletes every entry of this cache's prefix and version (never FLUSHALL/FLUSHDB). */
  async clear(): Promise<number> {
    try {
      const deleted = await this.scanner.deleteMatching(this.ctx.keys.allEntriesPattern());
      this.ctx.l1?.clear();
      this.announce(["*"]);
      return deleted;
    } catch (error) {
      throw new CacheUnavailableError("clear", error);
    }
  }

  /**
   * This instance's own numbers, breaker, L1 and invalidation state, with no Redis call (for health checks,
   * metrics and alerts that must answer while Redis is down).
   */
  getLocalStats(): Pick<SpyCacheStats, "instance" | "breaker" | "l1" | "invalidation" | "locks"> {
    return localStats(this.ctx);
  }

  /** This application's statistics: this instance, the fleet (when Redis answers), keys and memory of the prefix. */
  getStats(options: { includeKeyspace?: boolean } = {}): Promise<SpyCacheStats> {
    return collectStats(this.ctx, this.scanner, options);
  }

  /** Stops the bus and the stats flush; closes the subscriber if the cache opened it. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.ctx.tags.onSoftBump = undefined;
      this.flow.recent?.clear();
      this.ctx.gateway.breakers.close();
      // Bounded: a cluster with no reachable node queues commands without a deadline, and close() must end.
      await withTimeout(this.ctx.bus.close(), CLOSE_STEP_MS, "cache close (bus)").catch(() => undefined);
      await withTimeout(
        Promise.resolve(this.ctx.stats.close()),
        CLOSE_STEP_MS,
        "cache close (final stats flush)",
      ).catch(() => undefined);
      if (this.ownedSubscriber) this.ownedSubscriber.disconnect();
      this.removeAllListeners();
    })();
    return this.closing;
  }

  private async refreshNow(
    key: string,
    ttl: Duration,
    loader: () => Promise<unknown>,
    options: SetOptions | undefined,
  ): Promise<void> {
    const tags = this.planner.validTags(options?.tags);
    const versions = await this.ctx.tags.current(tags);
    const value = await loader();
    const written = await this.reader.write(
      this.ctx.keys.entry(key),
      this.planner.envelope(value, ttl, options?.grace, versions),
    );
    if (!written) throw new CacheUnavailableError("warm");
  }

  /** `set` that reports a failed write instead of swallowing it (warm must say what it did not store). */
  private async store(key: string, value: unknown, options: SetOptions = {}): Promise<void> {
    this.assertOpen();
    const fullKey = this.ctx.keys.entry(key);
    const versions = await this.ctx.tags.current(this.planner.validTags(options.tags));
    if (!(await this.reader.write(fullKey, this.planner.envelope(value, options.ttl, options.grace, versions))))
      throw new CacheUnavailableError("warm");
    this.announce([fullKey]);
  }

  private plan<T>(key: string, ttl: Duration, options: RememberOptions<T>): RememberPlan<T> {
    this.assertOpen();
    return this.planner.plan(key, ttl, options);
  }

  /** Using the cache after close() is a bug in the caller: say so instead of quietly bypassing. */
  private assertOpen(): void {
    if (this.closing) throw new CacheClosedError();
  }

  private announce(fullKeys: string[]): void {
    if (this.ctx.options.announceWrites) void this.ctx.bus.announceKeys(fullKeys);
  }
}
