import type { KeyBuilder } from "../keys/key-builder.ts";
import { BUMP_TAG_VERSION, NOTE_TAGGED_KEY, READ_TAG_VERSIONS } from "../transport/lua-script.ts";
import type { RedisGateway } from "../transport/redis-gateway.ts";

/**
 * Tag versions, held in process and in Redis. The local map is only trusted while the invalidation bus says so
 * (`trustedUntil`, see invalidation-bus.ts); otherwise versions are read from Redis, and a version read from Redis
 * vouches for its tag alone until `registeredUntil` as it was when the read was sent (docs/cache.md, "Tag
 * invalidation", rule 6), so an untrusted instance reads each tag about once per W/4, not once per entry. Versions
 * only grow, so merging is `max`. A fetch that was in flight across a `reset()` (messages may have been lost) is not merged.
 *
 * Soft invalidations bump the same version as hard ones; the store also remembers, per tag, which version a soft
 * bump produced and when this process learned of it (its own monotonic clock). Only an entry exactly one version
 * behind, where that one bump was soft and learned of less than S ago, counts as softly invalidated: a later
 * hard bump, a version learned by a fetch, or a reset all leave no such record, so the entry is simply invalid.
 */
export class TagVersionStore {
  private readonly local = new Map<string, number>();
  /** Tag -> its latest known soft bump (from one version to the next, atomically in Redis) and performance.now() when this process learned of it. */
  private readonly softBumps = new Map<string, { from: number; version: number; at: number }>();
  /** Bumped by `reset()`: fetches started in an older epoch are not merged into the map. */
  private epoch = 0;
  /** Bumped by every applied invalidation or reset: in-flight reads of an older generation are not joined. */
  generation = 0;
  /** performance.now() deadline until which the local map is complete (set by the bus). */
  trustedUntil = 0;
  /**
   * performance.now() deadline set by the bus after each heartbeat that reached Redis, a registration in the live
   * set or a published ping (its send time + W/2): until then an invalidation published later cannot resolve without
   * this instance's acknowledgement or W after its publication.
   */
  registeredUntil = 0;
  /** Tag versions Redis answered so far (one script call each on a cluster): what an untrusted map costs. */
  versionReads = 0;
  /** Tag -> performance.now() until which its version fetched from Redis is current enough for reads (rule 6). */
  private readonly fetchedUntil = new Map<string, number>();
  /** Called with the tags of each soft bump once, when first recorded (own bump or bus); must not throw. */
  onSoftBump: ((tags: string[]) => void) | undefined;

  constructor(
    private readonly redis: RedisGateway,
    private readonly keys: KeyBuilder,
    private readonly tagTtlMs: number,
  ) {}

  /** True while the local map reflects every invalidation published more than the trust window ago. */
  isTrusted(): boolean {
    return performance.now() < this.trustedUntil;
  }

  /**
   * The locally known versions of `tags`, or undefined when any is unknown or, the map being untrusted, any was not
   * fetched from Redis recently enough to vouch for itself (`fetchedUntil`).
   */
  localVersions(tags: Iterable<string>): Map<string, number> | undefined {
    const trusted = this.isTrusted();
    const now = trusted ? 0 : performance.now();
    const out = new Map<string, number>();
    for (const tag of tags) {
      const version = this.local.get(tag);
      if (version === undefined) return undefined;
      if (!trusted && !((this.fetchedUntil.get(tag) ?? 0) > now)) return undefined;
      out.set(tag, version);
    }
    return out;
  }

  /** True when every tag of `tags` has a version fetched from Redis recently enough to use without the map's trust (rule 6). */
  fetchedRecently(tags: readonly string[]): boolean {
    const now = performance.now();
    for (const tag of tags) if (!((this.fetchedUntil.get(tag) ?? 0) > now) || !this.local.has(tag)) return false;
    return true;
  }

  /**
   * True when every tag of an entry built with `entryTags` has a version fetched from Redis recently enough to vouch
   * for itself (rule 6) and equal to the entry's: what an untrusted instance needs to serve an L1 copy (rule 7).
   * No allocation.
   */
  vouchedFor(entryTags: Readonly<Record<string, number>>): boolean {
    const now = performance.now();
    for (const tag in entryTags) {
      if (this.local.get(tag) !== entryTags[tag] || !((this.fetchedUntil.get(tag) ?? 0) > now)) return false;
    }
    return true;
  }

  /** The locally known version of one tag, trusted or not (callers check `isTrusted()`). */
  knownVersion(tag: string): number | undefined {
    return this.local.get(tag);
  }

  /** Current versions of `tags`: from the map when trusted and known, otherwise from Redis (one round trip). */
  async current(tags: readonly string[]): Promise<Map<string, number>> {
    if (tags.length === 0) return new Map();
    return this.localVersions(tags) ?? this.fetch(tags);
  }

  /** Reads (initialising missing ones) the versions of `tags` from Redis and merges them into the map. */
  async fetch(tags: readonly string[]): Promise<Map<string, number>> {
    const unique = [...new Set(tags)];
    const epoch = this.epoch;
    // Taken before sending: only registrations that completed before the read may vouch for what it returns.
    const until = this.registeredUntil;
    const versionKeys = unique.map((tag) => this.keys.tagVersion(tag));
    const ttl = this.tagTtlMs;
    let raw: string[];
    if (!this.redis.isCluster) {
      raw = (await this.redis.call((c) => READ_TAG_VERSIONS.run(c, versionKeys, [ttl]), versionKeys[0])) as string[];
      this.versionReads += raw.length;
    } else {
      // Each tag key has its own slot: one script call per tag, sent together.
      raw = await Promise.all(
        versionKeys.map(async (key) => {
          const [version] = (await this.redis.call((c) => READ_TAG_VERSIONS.run(c, [key], [ttl]), key)) as string[];
          this.versionReads += 1;
          return version!;
        }),
      );
    }
    const result = new Map<string, number>();
    for (const [i, tag] of unique.entries()) result.set(tag, Number(raw[i]));
    // Merge only if no messages were lost while the fetch was in flight: the map must never hold a version
    // older than an invalidation it has been told about.
    if (epoch === this.epoch) {
      for (const [tag, version] of result) {
        this.mergeOne(tag, version);
        if (until > (this.fetchedUntil.get(tag) ?? 0)) this.fetchedUntil.set(tag, until);
      }
    }
    return result;
  }

  /**
   * Applies versions announced on the bus or returned by a bump (max-merge); starts a new generation. `softFrom`:
   * they come from a soft bump, and this is each tag's version just before it (absent: unknown), learned of now
   * (the first report of a bump keeps its time: own bump, then the bus echo).
   */
  apply(versions: Record<string, number>, softFrom?: Record<string, number>): void {
    const now = softFrom ? performance.now() : 0;
    let recorded: string[] | undefined;
    for (const tag in versions) {
      const version = versions[tag]!;
      this.mergeOne(tag, version);
      const from = softFrom?.[tag];
      // Only the newest version can make an entry soft-stale; a late message for an older one is not recorded.
      if (from !== undefined && this.local.get(tag) === version && this.softBumps.get(tag)?.version !== version) {
        this.softBumps.set(tag, { from, version, at: now });
        (recorded ??= []).push(tag);
      }
    }
    this.generation += 1;
    // After the map holds the new versions, so what the listener starts builds on them.
    if (recorded) this.onSoftBump?.(recorded);
  }

  /**
   * True when an entry built with `entryVersion` of `tag` missed exactly one bump, that bump was soft, and this
   * process learned of it less than `boundMs` ago. Callers check `isTrusted()` first.
   */
  softlyInvalidated(tag: string, entryVersion: number, boundMs: number): boolean {
    const record = this.softBumps.get(tag);
    // The bump went from exactly the entry's version: the entry missed this soft bump and nothing before it.
    if (record === undefined || record.from !== entryVersion) return false;
    // A later hard bump (or a fetch past it) moved the known version on: the record no longer speaks for it.
    if (this.local.get(tag) !== record.version) return false;
    return performance.now() - record.at < boundMs;
  }

  /** Forgets every local version (messages may have been lost) and distrusts the map until the next own ping. */
  reset(): void {
    this.local.clear();
    this.softBumps.clear();
    this.fetchedUntil.clear();
    this.epoch += 1;
    this.generation += 1;
    this.trustedUntil = 0;
  }

  /** Bumps each tag's version in Redis; returns the new versions, the ones just before (when there was one) and the approximate entry count. */
  async bump(
    tags: readonly string[],
  ): Promise<{ versions: Record<string, number>; previous: Record<string, number>; entries: number }> {
    const unique = [...new Set(tags)];
    const results = await Promise.all(
      unique.map((tag) => {
        const versionKey = this.keys.tagVersion(tag);
        return this.redis.call(
          (c) => BUMP_TAG_VERSION.run(c, [versionKey, this.keys.tagCount(tag)], [this.tagTtlMs]),
          versionKey,
        );
      }),
    );
    const versions: Record<string, number> = {};
    const previous: Record<string, number> = {};
    let entries = 0;
    unique.forEach((tag, i) => {
      const [version, count, before] = results[i] as [string, number, string | undefined];
      versions[tag] = Number(version);
      if (before) previous[tag] = Number(before);
      entries += Number(count);
    });
    return { versions, previous, entries };
  }

  /** Notes `fullKey` as written under each tag (for the approximate count); errors are the caller's to ignore. */
  async noteKeys(fullKey: string, tags: readonly string[], ttlMs: number): Promise<void> {
    await Promise.all(
      tags.map((tag) => {
        const countKey = this.keys.tagCount(tag);
        return this.redis.call((c) => NOTE_TAGGED_KEY.run(c, [countKey], [fullKey, Math.max(ttlMs, 1_000)]), countKey);
      }),
    );
  }

  /** Number of tags with a locally known version (for stats). */
  get size(): number {
    return this.local.size;
  }

  private mergeOne(tag: string, version: number): void {
    const known = this.local.get(tag);
    if (known === undefined || version > known) this.local.set(tag, version);
  }
}
