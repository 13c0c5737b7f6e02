import { createHash } from "node:crypto";
import type { CacheContext } from "../cache-context.ts";
import type { CacheEnvelope } from "../read/cache-envelope.ts";
import type { LockHandlePort } from "../cache-ports.ts";
import type { EntryReader } from "../read/entry-reader.ts";
import type { LastGoodCopies } from "./last-good-copies.ts";
import { PeerWaiters } from "./peer-waiters.ts";
import type { RememberPlan } from "./remember-plan.ts";

/** What a loader run produced. */
export interface LoadOutcome {
  envelope: CacheEnvelope;
  /** False when another process (or an earlier writer) filled the entry and this one only read it. */
  computedHere: boolean;
}

/** How a run treats a busy lock and which existing entries count as its result. */
export interface LoadMode {
  /** Wait for the lock holder's result (a caller), or give up at once (a background refresh). */
  waitForPeer: boolean;
  /** An existing entry counts only if created after this (epoch ms; -1 for any). */
  newerThan: number;
  /** Whether an existing value is acceptable (the caller's schema). */
  accept: (value: unknown) => boolean;
}

/**
 * One loader run per key and tag versions: in this process (callers join the run in flight if they would store
 * the same versions) and across processes (a Redis lock; the others wait for the holder's result).
 */
export class LoaderRuns {
  private readonly loads = new Map<
    string,
    { signature: string; waitsForPeer: boolean; promise: Promise<LoadOutcome | undefined> }
  >();
  private readonly peers: PeerWaiters;

  constructor(
    private readonly ctx: CacheContext,
    private readonly reader: EntryReader,
    private readonly lastGood: LastGoodCopies,
  ) {
    this.peers = new PeerWaiters(ctx);
  }

  /** Joins or starts the loader run for a key and a set of tag versions. Undefined: skipped (lock busy). */
  start<T>(
    plan: RememberPlan<T>,
    loader: () => Promise<T>,
    versions: Map<string, number>,
    mode: LoadMode,
  ): Promise<LoadOutcome | undefined> {
    const signature = signatureOf(versions);
    const existing = this.loads.get(plan.fullKey);
    // Joining a run that stores other tag versions would hand out data read before an invalidation.
    if (existing && existing.signature === signature) {
      if (existing.waitsForPeer || !mode.waitForPeer) return existing.promise;
      // A caller joining a background refresh: the refresh gives up (undefined) when another process holds the
      // lock, but the caller needs a value, so it then waits for that process's result (or computes) itself.
      return existing.promise.then((outcome) => outcome ?? this.start(plan, loader, versions, mode));
    }
    const promise = this.compute(plan, loader, versions, mode);
    this.loads.set(plan.fullKey, { signature, waitsForPeer: mode.waitForPeer, promise });
    promise.then(
      () => this.forgetLoad(plan.fullKey, promise),
      () => this.forgetLoad(plan.fullKey, promise),
    );
    return promise;
  }

  private forgetLoad(fullKey: string, promise: Promise<unknown>): void {
    if (this.loads.get(fullKey)?.promise === promise) this.loads.delete(fullKey);
  }

  private async compute<T>(
    plan: RememberPlan<T>,
    loader: () => Promise<T>,
    versions: Map<string, number>,
    mode: LoadMode,
  ): Promise<LoadOutcome | undefined> {
    const turn = await this.takeTurn(plan, versions, mode);
    if (turn.kind === "skip") return undefined;
    if (turn.kind === "filled") return { envelope: turn.envelope, computedHere: false };
    const handle = turn.kind === "lock" ? turn.handle : null;
    try {
      const started = performance.now();
      const value = await loader();
      this.ctx.stats.observeLoaderLatency(performance.now() - started);
      const createdAt = Date.now();
      const envelope: CacheEnvelope = {
        value,
        createdAt,
        freshUntil: createdAt + plan.ttlMs,
        graceUntil: createdAt + plan.ttlMs + plan.graceMs,
        tags: Object.fromEntries(versions),
      };
      await this.reader.write(plan.fullKey, envelope);
      if (plan.lastGood) this.lastGood.keep(plan.lastGood, envelope);
      if (handle) void this.ctx.bus.announceFilled(plan.fullKey);
      return { envelope, computedHere: true };
    } finally {
      handle?.release().catch(() => undefined);
    }
  }

  /**
   * Decides who computes: this process if it takes the key's lock (after re-checking that nobody filled the entry
   * meanwhile), or another that holds it, whose result this one waits for (woken by its "filled" message, polling
   * as a fallback, retrying the lock in case the holder gave up) for at most `lockWaitMs`. The lock name carries
   * the tag versions, so a run building on older versions never blocks one building on newer ones.
   */
  private async takeTurn<T>(
    plan: RememberPlan<T>,
    versions: Map<string, number>,
    mode: LoadMode,
  ): Promise<
    | { kind: "lock"; handle: LockHandlePort }
    | { kind: "filled"; envelope: CacheEnvelope }
    | { kind: "alone" }
    | { kind: "skip" }
  > {
    const { lock, options, gateway } = this.ctx;
    if (!lock || !options.lock) return { kind: "alone" };
    const name = versions.size === 0 ? plan.key : `${plan.key}#${shortHash(signatureOf(versions))}`;
    const accept = (found: CacheEnvelope | undefined): found is CacheEnvelope =>
      found !== undefined &&
      found.createdAt > mode.newerThan &&
      Date.now() < found.freshUntil &&
      sameTags(found, versions) &&
      mode.accept(found.value);
    const deadline = Date.now() + options.lockWaitMs;
    for (;;) {
      let handle: LockHandlePort | null;
      try {
        handle = await gateway.call(
          () => lock.acquire(name, options.lockTtlMs, { retries: 0 }),
          `${this.ctx.keys.lockPrefix()}:lock:${name}`,
        );
      } catch {
        return { kind: "alone" }; // Redis failed under the lock: compute without it rather than fail.
      }
      if (handle) {
        const again = await this.reader.read(plan.fullKey, plan.tags).catch(() => undefined);
        if (accept(again?.envelope)) {
          handle.release().catch(() => undefined);
          return { kind: "filled", envelope: again!.envelope! };
        }
        return { kind: "lock", handle };
      }
      if (!mode.waitForPeer) return { kind: "skip" };
      const remaining = deadline - Date.now();
      if (remaining <= 0) return { kind: "alone" }; // the holder did not deliver in time: make progress here
      await this.peers.nextSignal(plan.fullKey, Math.min(options.lockPollMs, remaining));
      const read = await this.reader.read(plan.fullKey, plan.tags).catch((): typeof REDIS_FAILED => REDIS_FAILED);
      // Redis failing (or the breaker open): the holder's result may never be written or its lock never released
      // (a cluster master died under it). Waiting out lockWaitMs would stall the caller: compute here instead.
      if (read === REDIS_FAILED || gateway.isOpenFor(plan.fullKey)) return { kind: "alone" };
      if (accept(read.envelope)) return { kind: "filled", envelope: read.envelope! };
    }
  }
}

/** A read of the entry that failed (Redis error), told apart from an absent entry. */
const REDIS_FAILED: unique symbol = Symbol("redis failed");

function signatureOf(versions: Map<string, number>): string {
  return [...versions].map(([tag, version]) => `${tag}=${version}`).join(",");
}

function shortHash(text: string): string {
  return createHash("sha1").update(text).digest("base64url").slice(0, 12);
}

function sameTags(envelope: CacheEnvelope, versions: Map<string, number>): boolean {
  for (const [tag, version] of versions) if (envelope.tags[tag] !== version) return false;
  return true;
}
