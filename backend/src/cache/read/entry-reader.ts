import type { CacheContext } from "../cache-context.ts";
import type { L1Store } from "./l1-store.ts";
import { decodeEnvelope, encodeEnvelope, tagsMatch, type CacheEnvelope, type TagVersions } from "./cache-envelope.ts";

const NO_TAGS: readonly string[] = [];

/** The outcome of reading one entry. */
export interface EntryRead {
  /** The entry if it exists, is within its grace, and every tag version it carries is current. */
  envelope: CacheEnvelope | undefined;
  /** Where it came from. */
  tier: "l1" | "l2" | undefined;
  /** True when the entry was softly invalidated less than S ago: it may be served stale while one refresh runs. */
  softInvalidated?: boolean;
}

/** The read of an absent, expired or invalidated entry (shared: reads are never mutated). */
export const NOTHING: EntryRead = Object.freeze({ envelope: undefined, tier: undefined });

/**
 * Reads and validates entries. When the local tag map is trusted, a hit costs one GET (or nothing, from L1);
 * otherwise the requested tags' versions are fetched from Redis alongside the entry, in the same round trip.
 */
export class EntryReader {
  /** W/2: how long a confirmation of an L1 copy's bytes stands in for a GET while the tag map is untrusted (rule 7). */
  private readonly confirmWindowMs: number;

  constructor(private readonly ctx: CacheContext) {
    this.confirmWindowMs = ctx.options.invalidationWindowMs / 2;
  }

  /**
   * The L1 copy of `fullKey` when it is within grace and valid: judged by the trusted tag map (rule 5), or, the map
   * untrusted, by versions that vouch for their tags (rule 6) when Redis confirmed the copy's bytes less than W/2
   * ago (rule 7, docs/cache.md "Tag invalidation"); else undefined.
   */
  readL1(fullKey: string): EntryRead | undefined {
    const { tags, l1 } = this.ctx;
    if (!l1) return undefined;
    if (!tags.isTrusted()) return this.readConfirmedL1(fullKey, l1);
    const held = l1.get(fullKey);
    if (!held) return undefined;
    if (Date.now() >= held.graceUntil) {
      l1.expire(fullKey);
      return undefined;
    }
    const verdict = this.validLocally(held.tags, false);
    if (verdict === true) return { envelope: held, tier: "l1" };
    return verdict === "soft" ? { envelope: held, tier: "l1", softInvalidated: true } : undefined;
  }

  /**
   * Rule 7: the tag map untrusted, an L1 copy whose bytes a GET (or this process's SET) sent less than W/2 ago found
   * in Redis, with every tag's version vouched for (rule 6) and equal to the copy's. A soft bump cannot be told
   * apart here, so any mismatch goes to Redis, as an untrusted read does.
   */
  private readConfirmedL1(fullKey: string, l1: L1Store): EntryRead | undefined {
    const held = l1.getConfirmedSince(fullKey, performance.now() - this.confirmWindowMs);
    if (!held) return undefined;
    if (Date.now() >= held.graceUntil) {
      l1.expire(fullKey);
      return undefined;
    }
    return this.ctx.tags.vouchedFor(held.tags) ? { envelope: held, tier: "l1" } : undefined;
  }

  /** Reads `fullKey`; `hintTags` are the tags the caller expects the entry to carry. Redis errors reject. */
  read(fullKey: string, hintTags: readonly string[] = NO_TAGS): Promise<EntryRead> {
    const { tags, gateway } = this.ctx;
    const fromL1 = this.readL1(fullKey);
    if (fromL1) return Promise.resolve(fromL1);
    // Sent now: a copy Redis returns unchanged is confirmed as of this moment (rule 7).
    const sentAt = performance.now();
    // Untrusted, but every hinted tag's version was read from Redis lately (docs/cache.md, rule 6): one GET.
    if (tags.isTrusted() || hintTags.length === 0 || tags.fetchedRecently(hintTags)) {
      return gateway.call((c) => c.get(fullKey), fullKey).then((raw) => this.accept(fullKey, raw, undefined, sentAt));
    }
    // Untrusted: the tag versions come from Redis in the same round trip as the entry.
    return Promise.all([gateway.call((c) => c.get(fullKey), fullKey), tags.fetch(hintTags)]).then(([raw, fetched]) =>
      this.accept(fullKey, raw, fetched, sentAt),
    );
  }

  /**
   * Decodes and validates the stored string of `fullKey` (null: absent), as returned by a GET sent at `sentAt`
   * (monotonic ms). Synchronous when the trusted tag map decides, which is every hit of a running instance; a promise
   * only when versions must be read from Redis.
   */
  accept(
    fullKey: string,
    raw: string | null,
    fetched: Map<string, number> | undefined,
    sentAt: number,
  ): EntryRead | Promise<EntryRead> {
    // An unchanged entry this process holds decodes to the envelope it holds (no JSON parse, the same value object).
    const held = raw !== null ? this.ctx.l1?.decoded(fullKey, raw) : undefined;
    const envelope = held ?? decodeEnvelope(raw);
    if (!envelope || Date.now() >= envelope.graceUntil) return this.gone(fullKey);
    const known = fetched === undefined ? this.validLocally(envelope.tags, true) : undefined;
    if (known === true) return this.found(fullKey, envelope, raw!, sentAt, held !== undefined);
    if (known === false) return this.gone(fullKey);
    if (known === "soft") return { envelope, tier: "l2", softInvalidated: true };
    return this.valid(envelope.tags, fetched).then((ok) =>
      ok ? this.found(fullKey, envelope, raw!, sentAt, held !== undefined) : this.gone(fullKey),
    );
  }

  /** Reads many keys with one MGET (single node) or parallel GETs (cluster); entries that fail validation are undefined. */
  async readMany(fullKeys: readonly string[]): Promise<(CacheEnvelope | undefined)[]> {
    const { gateway } = this.ctx;
    if (fullKeys.length === 0) return [];
    const raws = gateway.isCluster
      ? await Promise.all(fullKeys.map((key) => gateway.call((c) => c.get(key), key)))
      : await gateway.call((c) => c.mget(...fullKeys), fullKeys[0]);
    const now = Date.now();
    const envelopes = raws.map((raw) => {
      const envelope = decodeEnvelope(raw);
      return envelope && now < envelope.graceUntil ? envelope : undefined;
    });
    const allTags = new Set<string>();
    for (const envelope of envelopes) if (envelope) for (const tag in envelope.tags) allTags.add(tag);
    const current = await this.ctx.tags.current([...allTags]);
    return envelopes.map((envelope) => (envelope && tagsMatch(envelope.tags, current) ? envelope : undefined));
  }

  /** True when every tag version of an entry is current (asking Redis only for what the trusted map lacks). */
  async valid(entryTags: TagVersions, fetched?: Map<string, number>): Promise<boolean> {
    // Hot path: a trusted map that knows every tag answers without allocating.
    if (!fetched && this.ctx.tags.isTrusted()) {
      let known = true;
      for (const tag in entryTags) {
        const version = this.ctx.tags.knownVersion(tag);
        if (version === undefined || version < entryTags[tag]!) {
          known = false;
          break;
        }
        if (version > entryTags[tag]!) return false;
      }
      if (known) return true;
    }
    const names = Object.keys(entryTags);
    if (names.length === 0) return true;
    if (fetched && names.every((tag) => fetched.has(tag))) return tagsMatch(entryTags, fetched);
    const local = this.ctx.tags.localVersions(names);
    // A trusted map that says "older" than the entry only lags a message in flight: ask Redis then.
    if (local && tagsMatch(entryTags, local)) return true;
    if (local && names.some((tag) => entryTags[tag]! < local.get(tag)!)) return false;
    return tagsMatch(entryTags, await this.ctx.tags.fetch(names));
  }

  /** Writes an entry (and notes it under its tags); never throws: a failed write only costs a future miss. */
  async write(fullKey: string, envelope: CacheEnvelope): Promise<boolean> {
    const { gateway, tags, l1, options } = this.ctx;
    const ttlMs = Math.ceil(envelope.graceUntil - Date.now());
    if (!(ttlMs > 0)) return false;
    const json = encodeEnvelope(envelope, options.compressAboveBytes);
    const tagNames = Object.keys(envelope.tags);
    const sentAt = performance.now();
    try {
      await Promise.all([
        gateway.call((c) => c.set(fullKey, json, "PX", ttlMs), fullKey),
        tagNames.length > 0 ? tags.noteKeys(fullKey, tagNames, ttlMs).catch(() => undefined) : undefined,
      ]);
    } catch (error) {
      // The copy held before, if any, stays: it is valid by its tag versions, and while Redis is out it is what the
      // cache serves stale instead of running the loader on every read (a refresh's SET fails exactly then). A SET
      // that timed out may still have been applied; this process then serves its older copy until that copy's grace.
      this.ctx.logger?.debug({ err: error, key: fullKey }, "cache write failed");
      return false;
    }
    if (l1) l1.set(fullKey, envelope, json, sentAt);
    return true;
  }

  /** Redis holds nothing usable for `fullKey`: neither does L1 from now on (nor a copy read before now). */
  private gone(fullKey: string): EntryRead {
    this.ctx.l1?.delete(fullKey);
    return NOTHING;
  }

  /** `held`: `envelope` is the copy L1 holds, recognised by its bytes in `accept`. */
  private found(fullKey: string, envelope: CacheEnvelope, raw: string, sentAt: number, held: boolean): EntryRead {
    const { l1 } = this.ctx;
    // Plain values (counters) change without announcements, so only envelopes go to L1.
    // The same envelope again when it came from these very bytes: its value object (and the API's memo of it) stays,
    // and Redis has just confirmed it.
    if (l1 && envelope.createdAt > 0) {
      if (held) l1.confirm(fullKey, sentAt);
      else l1.set(fullKey, envelope, raw, sentAt);
    }
    return { envelope, tier: "l2" };
  }

  /**
   * The trusted map's verdict on an entry's tag versions, with no allocation: true (all current), false (one is
   * older than known: invalidated), "soft" (every older one missed only a soft bump learned of less than S ago),
   * or undefined (untrusted, an unknown tag, or the entry is newer than the map, which only means an announcement
   * is still in flight) when Redis must be asked. `lenient` false (L1 copies) treats those cases as false too.
   */
  private validLocally(entryTags: TagVersions, lenient: boolean): boolean | "soft" | undefined {
    const { tags } = this.ctx;
    if (!tags.isTrusted()) return undefined;
    let soft = false;
    for (const tag in entryTags) {
      const version = tags.knownVersion(tag);
      const built = entryTags[tag]!;
      if (version === built) continue;
      if (version !== undefined && version > built) {
        // Hard wins: one tag invalidated hard (or too long ago to tell) makes the whole entry invalid.
        if (!tags.softlyInvalidated(tag, built, this.ctx.options.softInvalidationStaleMs)) return false;
        soft = true;
        continue;
      }
      if (!lenient) return false;
      return undefined;
    }
    return soft ? "soft" : true;
  }
}
