import { LRUCache } from "lru-cache";
import type { CacheContext } from "../cache-context.ts";
import type { LastGoodPlan } from "./remember-plan.ts";
import { decodeEnvelope, encodeEnvelope, type CacheEnvelope } from "../read/cache-envelope.ts";

/**
 * The stale-if-error fallback of entries that may be gone when the loader fails: each value a loader produced
 * is also kept under a second key (the caller names it, e.g. per relative window rather than per minute) for the
 * horizon, in Redis and in a bounded in-process map. It is read only when a loader fails and no usable entry
 * exists, and it ignores tag versions: an invalidation makes the entry a miss, but when the data cannot be
 * recomputed the last value computed is still the best answer, served as stale. `purgeTag` deletes copies like
 * entries (they carry the tags); `sweepInvalidated` leaves them (they are meant to outlive invalidations).
 */
export class LastGoodCopies {
  private readonly local: LRUCache<string, CacheEnvelope>;

  constructor(private readonly ctx: CacheContext) {
    this.local = new LRUCache({ max: Math.max(1, ctx.options.lastGoodMaxEntries) });
  }

  /** Keeps `envelope` as the last good copy (Redis write not awaited; a failed write is only logged at debug). */
  keep(plan: LastGoodPlan, envelope: CacheEnvelope): void {
    const until = envelope.createdAt + plan.horizonMs;
    const ttlMs = Math.ceil(until - Date.now());
    if (!(ttlMs > 0)) return;
    const copy: CacheEnvelope = { ...envelope, freshUntil: until, graceUntil: until, lastGood: true };
    // In process the entry's own freshness is kept too (see `held`); the horizon is the LRU's TTL.
    this.local.set(plan.fullKey, envelope, { ttl: ttlMs });
    if (this.ctx.gateway.isOpenFor(plan.fullKey)) return;
    const json = encodeEnvelope(copy, this.ctx.options.compressAboveBytes);
    this.ctx.gateway
      .call((c) => c.set(plan.fullKey, json, "PX", ttlMs), plan.fullKey)
      .catch((error: unknown) => {
        this.ctx.logger?.debug({ err: error, key: plan.fullKey }, "last good copy not written");
      });
  }

  /** Drops this process's copies carrying `tag` (a purge for data deletion; Redis's go with the entries). */
  forgetTagged(tag: string): void {
    for (const [key, copy] of this.local.entries()) if (Object.hasOwn(copy.tags, tag)) this.local.delete(key);
  }

  /**
   * This process's copy while it is still within the grace of the entry it was built as (Redis out: served instead
   * of recomputing, like an L1 copy, which the loss of the bus's trust clears).
   */
  held(plan: LastGoodPlan): CacheEnvelope | undefined {
    const local = this.local.get(plan.fullKey);
    return local !== undefined && Date.now() < local.graceUntil ? local : undefined;
  }

  /** The newest copy within its horizon: Redis's (shared by every instance) or, failing that, this process's. */
  async find(plan: LastGoodPlan): Promise<CacheEnvelope | undefined> {
    const held = this.local.get(plan.fullKey);
    const local = held && {
      ...held,
      freshUntil: held.createdAt + plan.horizonMs,
      graceUntil: held.createdAt + plan.horizonMs,
    };
    let shared: CacheEnvelope | undefined;
    if (!this.ctx.gateway.isOpenFor(plan.fullKey)) {
      shared = await this.ctx.gateway
        .call((c) => c.get(plan.fullKey), plan.fullKey)
        .then((raw) => decodeEnvelope(raw))
        .catch(() => undefined);
    }
    const now = Date.now();
    const usable = [shared, local].filter((copy): copy is CacheEnvelope => copy !== undefined && now < copy.graceUntil);
    return usable.sort((a, b) => b.createdAt - a.createdAt)[0];
  }
}
