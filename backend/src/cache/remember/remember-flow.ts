import type { CacheContext } from "../cache-context.ts";
import type { CacheEnvelope, TagVersions } from "../read/cache-envelope.ts";
import { FactoryHardTimeoutError } from "../cache-errors.ts";
import type { CacheResult } from "../cache-types.ts";
import type { EntryRead, EntryReader } from "../read/entry-reader.ts";
import { raceTimeouts, type RaceOutcome } from "./loader-timeouts.ts";
import { CacheUnavailableError } from "../cache-errors.ts";
import { LastGoodCopies } from "./last-good-copies.ts";
import type { RememberPlan } from "./remember-plan.ts";
import { LoaderRuns } from "./loader-runs.ts";
import { RecentReads } from "./recent-reads.ts";
import { SharedReads } from "../read/shared-reads.ts";
import { TimeoutError } from "../../lib/with-timeout.ts";

/**
 * Why an L1 copy stands in while Redis is out (a stale answer's `loaderError`): one instance for every such answer,
 * which can be thousands a second on a failed master's slots (an Error per answer captured a stack trace each).
 */
const L1_COPY_ERROR = new CacheUnavailableError("remember (Redis out: L1 copy)");

/**
 * Cache-aside with stampede protection and grace. In one process, concurrent callers of a key share one read
 * (while the tag map is trusted and no invalidation arrived since it started) and one loader run (while the tag
 * versions they would store are the same). Across processes, a lock lets one compute while others wait for its
 * result. Stale values are served while one background refresh runs, or when the loader fails or times out.
 */
export class RememberFlow {
  private readonly reads: SharedReads;
  private readonly refreshing = new Set<string>();
  private readonly runs: LoaderRuns;
  /** Last good copies (stale-if-error past an entry's life). */
  readonly lastGood: LastGoodCopies;
  /** Loader runs of the bypass path (Redis out) in flight, per full key: identical loads share one run. */
  private readonly bypassRuns = new Map<string, BypassRun<unknown>>();
  /** Keys served lately, refreshed at once by a soft invalidation (undefined: `refreshOnSoftInvalidation: false`). */
  readonly recent: RecentReads | undefined;

  constructor(
    private readonly ctx: CacheContext,
    private readonly reader: EntryReader,
  ) {
    this.lastGood = new LastGoodCopies(ctx);
    this.runs = new LoaderRuns(ctx, reader, this.lastGood);
    this.reads = new SharedReads(ctx, reader);
    const recent = ctx.options.refreshOnSoftInvalidation;
    this.recent = recent ? new RecentReads(recent) : undefined;
  }

  /**
   * A soft bump of `tags` was applied in this process: starts the same background refresh a stale read would start
   * for every recently served key carrying one of them (one per key in process; across processes the per-version
   * lock lets one compute and the others find its entry). Never throws: it runs inside the bus handler.
   */
  refreshSoftlyInvalidated(tags: string[]): void {
    try {
      if (this.recent === undefined) return;
      // -1: the entry's own creation time is unknown here; the lock's re-read accepts only an entry built on the
      // versions this refresh would store, so a peer's result still counts and an old entry does not.
      for (const read of this.recent.tagged(tags)) {
        // Its master's breaker open: the refresh could not store anything; the next reader bypasses as usual.
        if (!this.ctx.gateway.isOpenFor(read.plan.fullKey))
          this.refreshInBackground(read.plan, read.loader, "soft", -1);
      }
    } catch (error) {
      this.ctx.logger?.warn({ err: error }, "refresh after soft invalidation failed to start");
    }
  }

  /**
   * Runs one remember call and returns `pick(result)`: `remember` picks the value, `rememberWithMeta` the whole
   * result, so neither needs an async layer of its own on the hit path.
   */
  async run<T, R>(plan: RememberPlan<T>, loader: () => Promise<T>, pick: (result: CacheResult<T>) => R): Promise<R> {
    const { stats } = this.ctx;
    // Breaker open: not even a read is attempted; the loader runs directly.
    if (this.ctx.gateway.isOpenFor(plan.fullKey)) return pick(await this.bypass(plan, loader));
    const fresh = this.peek(plan, loader);
    if (fresh) return pick(fresh);
    let read: EntryRead | undefined = this.reader.readL1(plan.fullKey);
    if (read === undefined) {
      // The GET leaves first: bookkeeping that needs no answer runs while Redis works, not before it.
      const reading = this.reads.read(plan.fullKey, plan.tags);
      this.recent?.touch(plan, loader);
      try {
        read = await reading;
      } catch {
        return pick(await this.bypass(plan, loader));
      }
    } else {
      this.recent?.touch(plan, loader);
    }
    let envelope = read.envelope;
    let value: T | undefined;
    if (envelope && plan.schema === undefined) value = envelope.value as T;
    else if (envelope) {
      const checked = this.checkSchema(plan, envelope.value);
      if (checked.ok) value = checked.value;
      else envelope = undefined; // a cached value that no longer fits the schema is a miss
    }
    const now = Date.now();
    if (envelope && read.softInvalidated)
      return pick(await this.serveSoftlyInvalidated(plan, loader, envelope, value as T, now));
    if (envelope && now < envelope.freshUntil) {
      stats.recordHit(read.tier ?? "l2", plan.statsLabel);
      this.maybeRefreshAhead(plan, loader, envelope, now);
      return pick({ value: value as T, status: "hit", ageMs: now - envelope.createdAt, storedAt: envelope.createdAt });
    }
    if (envelope && plan.staleWhileRevalidate) {
      stats.recordStale(plan.statsLabel);
      this.refreshInBackground(plan, loader, "stale", envelope.createdAt);
      return pick({
        value: value as T,
        status: "stale",
        ageMs: now - envelope.createdAt,
        storedAt: envelope.createdAt,
      });
    }
    return pick(await this.load(plan, loader, envelope ? { envelope, value: value as T } : undefined));
  }

  /**
   * The synchronous part of `run`: a fresh, valid in-process (L1) entry (tag map trusted, or rule 7 of
   * docs/cache.md) while the key's breaker is closed, recorded as a hit; while it is open, the copy `bypass` would
   * serve stale; undefined for everything else (stale, softly invalidated, not in L1, a schema mismatch, a loader
   * to run), which `run` handles.
   */
  peek<T>(plan: RememberPlan<T>, loader: () => Promise<T>): CacheResult<T> | undefined {
    // Its master's breaker open: what `run` would answer first, this process's copy served stale, if it holds one.
    if (this.ctx.gateway.isOpenFor(plan.fullKey)) return this.heldCopy(plan);
    const read = this.reader.readL1(plan.fullKey);
    if (read === undefined || read.softInvalidated) return undefined;
    const { envelope } = read;
    if (!envelope) return undefined;
    const now = Date.now();
    if (now >= envelope.freshUntil) return undefined;
    let value = envelope.value as T;
    if (plan.schema !== undefined) {
      const checked = this.checkSchema(plan, envelope.value);
      if (!checked.ok) return undefined;
      value = checked.value;
    }
    this.recent?.touch(plan, loader);
    this.ctx.stats.recordHit("l1", plan.statsLabel);
    this.maybeRefreshAhead(plan, loader, envelope, now);
    return { value, status: "hit", ageMs: now - envelope.createdAt, storedAt: envelope.createdAt };
  }

  private async load<T>(
    plan: RememberPlan<T>,
    loader: () => Promise<T>,
    stale: { envelope: CacheEnvelope; value: T } | undefined,
  ): Promise<CacheResult<T>> {
    let versions: Map<string, number>;
    try {
      versions = await this.ctx.tags.current(plan.tags);
    } catch {
      return stale ? this.serveStale(plan.statsLabel, stale, true) : this.bypass(plan, loader);
    }
    const accept = (value: unknown) => this.checkSchema(plan, value).ok;
    const flight = this.runs.start(plan, loader, versions, { waitForPeer: true, newerThan: -1, accept });
    const outcome = await raceTimeouts(flight, stale ? plan.softTimeoutMs : undefined, plan.hardTimeoutMs);
    switch (outcome.kind) {
      case "value": {
        const envelope = outcome.value!.envelope;
        // Values read from a peer passed the schema; the loader's own value is trusted as is.
        if (outcome.value!.computedHere) this.ctx.stats.recordMiss(plan.statsLabel);
        else this.ctx.stats.recordHit("l2", plan.statsLabel);
        return {
          value: envelope.value as T,
          status: outcome.value!.computedHere ? "miss" : "hit",
          ageMs: outcome.value!.computedHere ? 0 : Math.max(0, Date.now() - envelope.createdAt),
          storedAt: envelope.createdAt,
        };
      }
      case "soft":
        return this.serveStale(plan.statsLabel, stale!, true);
      case "hard": {
        const error = new FactoryHardTimeoutError(
          plan.key,
          plan.hardTimeoutMs!,
          new TimeoutError("loader", plan.hardTimeoutMs!),
        );
        if (stale) return this.serveStale(plan.statsLabel, stale, true, error);
        return this.serveLastGood(plan, error);
      }
      case "error":
        if (stale) return this.serveStale(plan.statsLabel, stale, true, outcome.error);
        return this.serveLastGood(plan, outcome.error);
    }
  }

  /** Stale-if-error past the entry's life: the last good copy within its horizon, or `error` rethrown. */
  private async serveLastGood<T>(plan: RememberPlan<T>, error: unknown): Promise<CacheResult<T>> {
    const copy = plan.lastGood && (await this.lastGood.find(plan.lastGood));
    if (copy) {
      const checked = this.checkSchema(plan, copy.value);
      if (checked.ok) return this.serveStale(plan.statsLabel, { envelope: copy, value: checked.value }, true, error);
    }
    throw error;
  }

  /**
   * An entry softly invalidated less than S ago: served stale at once while one background refresh runs (the
   * reader's check already bounded how old the invalidation is); without stale-while-revalidate, the caller waits
   * for the loader and the old value is only a fallback, as in grace.
   */
  private async serveSoftlyInvalidated<T>(
    plan: RememberPlan<T>,
    loader: () => Promise<T>,
    envelope: CacheEnvelope,
    value: T,
    now: number,
  ): Promise<CacheResult<T>> {
    if (!plan.staleWhileRevalidate) return this.load(plan, loader, { envelope, value });
    this.ctx.stats.recordStale(plan.statsLabel);
    this.refreshInBackground(plan, loader, "soft", envelope.createdAt);
    return { value, status: "stale", ageMs: now - envelope.createdAt, storedAt: envelope.createdAt };
  }

  /** Starts one background refresh of a key (per process; across processes the lock skips duplicates). */
  refreshInBackground<T>(
    plan: RememberPlan<T>,
    loader: () => Promise<T>,
    reason: "stale" | "ahead" | "soft",
    createdAt: number,
  ): void {
    if (this.refreshing.has(plan.fullKey)) return;
    this.refreshing.add(plan.fullKey);
    const { events } = this.ctx;
    const run = async () => {
      const versions = await this.ctx.tags.current(plan.tags);
      const accept = (value: unknown) => this.checkSchema(plan, value).ok;
      const flight = this.runs.start(plan, loader, versions, { waitForPeer: false, newerThan: createdAt, accept });
      const outcome = await raceTimeouts(flight, undefined, plan.hardTimeoutMs);
      if (outcome.kind === "error") throw outcome.error;
      if (outcome.kind !== "value") throw new FactoryHardTimeoutError(plan.key, plan.hardTimeoutMs ?? 0);
      if (outcome.value === undefined) {
        // Softly invalidated and another process holds the lock, so it computes the new value: drop this process's
        // L1 copy, or it would keep serving the old one for up to S instead of reading the peer's entry from L2.
        if (reason === "soft") this.ctx.l1?.delete(plan.fullKey);
        events.emit("refresh:skipped", { key: plan.key, reason });
      } else events.emit("refresh:done", { key: plan.key, reason, computedHere: outcome.value.computedHere });
    };
    run()
      .catch((error: unknown) => {
        this.ctx.logger?.warn({ err: error, key: plan.key }, "background cache refresh failed");
        events.emit("refresh:error", { key: plan.key, reason, error });
      })
      .finally(() => this.refreshing.delete(plan.fullKey));
  }

  private maybeRefreshAhead<T>(
    plan: RememberPlan<T>,
    loader: () => Promise<T>,
    envelope: CacheEnvelope,
    now: number,
  ): void {
    const at = plan.refreshAheadAt;
    if (!(at > 0 && at < 1) || !Number.isFinite(envelope.freshUntil)) return;
    if (now >= envelope.createdAt + at * (envelope.freshUntil - envelope.createdAt)) {
      this.refreshInBackground(plan, loader, "ahead", envelope.createdAt);
    }
  }

  /**
   * Redis is out (breaker open or the read failed). The L1 copy, if this process holds one within its grace and no
   * invalidation this process knows of has passed it, is served stale; otherwise the loader runs directly, one run
   * per key in this process however many callers want it.
   */
  private async bypass<T>(plan: RememberPlan<T>, loader: () => Promise<T>): Promise<CacheResult<T>> {
    const copy = this.heldCopy(plan);
    if (copy !== undefined) return copy;
    this.ctx.stats.recordBypass(plan.statsLabel);
    this.ctx.events.emit("bypass", { key: plan.key });
    let run = this.bypassRuns.get(plan.fullKey) as BypassRun<T> | undefined;
    if (run === undefined) {
      const started = performance.now();
      // The versions this process knows before the loader runs: what its result is as new as (see heldCopy).
      const versions = Object.fromEntries(plan.tags.map((tag) => [tag, this.ctx.tags.knownVersion(tag) ?? -1]));
      const outcome = raceTimeouts(loader(), undefined, plan.hardTimeoutMs).then((result) => {
        this.ctx.stats.observeLoaderLatency(performance.now() - started);
        return result;
      });
      const own: BypassRun<T> = { outcome, versions };
      run = own;
      this.bypassRuns.set(plan.fullKey, own);
      void outcome.finally(() => {
        if (this.bypassRuns.get(plan.fullKey) === own) this.bypassRuns.delete(plan.fullKey);
      });
    }
    const outcome = await run.outcome;
    if (outcome.kind === "error") return this.serveLastGood(plan, outcome.error);
    if (outcome.kind !== "value") {
      return this.serveLastGood(
        plan,
        new FactoryHardTimeoutError(plan.key, plan.hardTimeoutMs!, new TimeoutError("loader", plan.hardTimeoutMs!)),
      );
    }
    const storedAt = Date.now();
    // Kept with the entry's freshness: while Redis stays out, later callers get it from `held` instead of a query.
    const envelope = {
      value: outcome.value,
      createdAt: storedAt,
      freshUntil: storedAt + plan.ttlMs,
      graceUntil: storedAt + plan.ttlMs + plan.graceMs,
      tags: run.versions,
    };
    if (plan.lastGood) this.lastGood.keep(plan.lastGood, envelope);
    return { value: outcome.value, status: "bypass", ageMs: 0, storedAt };
  }

  /**
   * Redis out for this key: this process's copy (L1, else the last good value) within its grace, served stale,
   * unless an invalidation this process applied has passed it. On a cluster each master has its own breaker, so an
   * invalidation of tags on live masters completes while this key's master is out; a hard one (or a soft one older
   * than S) makes the copy unusable, and the loader runs. A tag this process knew no version of when the copy was
   * built (-1) counts as passed once any version is known.
   */
  private heldCopy<T>(plan: RememberPlan<T>): CacheResult<T> | undefined {
    const { l1 } = this.ctx;
    let held = l1?.get(plan.fullKey);
    if (held !== undefined && !this.servable(held)) {
      l1!.expire(plan.fullKey); // invalid for every reader from now on; the last good copy may still serve
      held = undefined;
    }
    if (held === undefined && plan.lastGood) {
      const kept = this.lastGood.held(plan.lastGood);
      if (kept !== undefined && this.servable(kept)) held = kept;
    }
    if (held === undefined) return undefined;
    const checked = this.checkSchema(plan, held.value);
    if (!checked.ok) return undefined;
    return this.serveStale(plan.statsLabel, { envelope: held, value: checked.value }, true, L1_COPY_ERROR);
  }

  /** A copy within its grace that no invalidation this process applied has passed. */
  private servable(copy: CacheEnvelope): boolean {
    return Date.now() < copy.graceUntil && copy.createdAt > 0 && !this.passedBy(copy.tags);
  }

  /** True when this process knows a version of one of `built`'s tags newer than it (hard, or soft older than S). */
  private passedBy(built: TagVersions): boolean {
    const { tags, options } = this.ctx;
    for (const tag in built) {
      const known = tags.knownVersion(tag);
      const version = built[tag]!;
      if (
        known !== undefined &&
        known > version &&
        !tags.softlyInvalidated(tag, version, options.softInvalidationStaleMs)
      )
        return true;
    }
    return false;
  }

  private serveStale<T>(
    label: string | undefined,
    stale: { envelope: CacheEnvelope; value: T },
    becauseOfError: boolean,
    error?: unknown,
  ): CacheResult<T> {
    this.ctx.stats.recordStale(label);
    const now = Date.now();
    return {
      value: stale.value,
      status: "stale",
      ageMs: now - stale.envelope.createdAt,
      storedAt: stale.envelope.createdAt,
      ...(becauseOfError ? { staleBecauseOfError: true } : {}),
      ...(error === undefined ? {} : { loaderError: error }),
    };
  }

  private checkSchema<T>(plan: RememberPlan<T>, value: unknown): { ok: true; value: T } | { ok: false } {
    if (!plan.schema) return { ok: true, value: value as T };
    const parsed = plan.schema.safeParse(value);
    return parsed.success ? { ok: true, value: parsed.data } : { ok: false };
  }
}

/** One loader run of the bypass path, shared by the callers of a key, with the tag versions known before it ran. */
interface BypassRun<T> {
  outcome: Promise<RaceOutcome<T>>;
  versions: Record<string, number>;
}
