import type { KeyBuilder } from "./key-builder.ts";
import { BUMP_TAG_VERSION, NOTE_TAGGED_KEY, READ_TAG_VERSIONS } from "./lua-script.ts";
import type { RedisGateway } from "./redis-gateway.ts";

/**
 * Tag versions, held in process and in Redis. The local map is only trusted while the invalidation bus says so
 * (`trustedUntil`, see invalidation-bus.ts); otherwise versions are read from Redis. Versions only grow, so
 * merging is `max`. A fetch that was in flight across a `reset()` (messages may have been lost) is not merged.
 */
export class TagVersionStore {
  private readonly local = new Map<string, number>();
  /** Bumped by `reset()`: fetches started in an older epoch are not merged into the map. */
  private epoch = 0;
  /** Bumped by every applied invalidation or reset: in-flight reads of an older generation are not joined. */
  generation = 0;
  /** performance.now() deadline until which the local map is complete (set by the bus). */
  trustedUntil = 0;

  constructor(
    private readonly redis: RedisGateway,
    private readonly keys: KeyBuilder,
    private readonly tagTtlMs: number,
  ) {}

  /** True while the local map reflects every invalidation published more than the trust window ago. */
  isTrusted(): boolean {
    return performance.now() < this.trustedUntil;
  }

  /** The locally known versions of `tags`, or undefined when untrusted or any is unknown. */
  localVersions(tags: Iterable<string>): Map<string, number> | undefined {
    if (!this.isTrusted()) return undefined;
    const out = new Map<string, number>();
    for (const tag of tags) {
      const version = this.local.get(tag);
      if (version === undefined) return undefined;
      out.set(tag, version);
    }
    return out;
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
    const versionKeys = unique.map((tag) => this.keys.tagVersion(tag));
    const ttl = this.tagTtlMs;
    let raw: string[];
    if (!this.redis.isCluster) {
      raw = (await this.redis.call((c) => READ_TAG_VERSIONS.run(c, versionKeys, [ttl]))) as string[];
    } else {
      // Each tag key has its own slot: one script call per tag, sent together.
      raw = await Promise.all(
        versionKeys.map(async (key) => ((await this.redis.call((c) => READ_TAG_VERSIONS.run(c, [key], [ttl]))) as string[])[0]!),
      );
    }
    const result = new Map<string, number>();
    unique.forEach((tag, i) => result.set(tag, Number(raw[i])));
    // Merge only if no messages were lost while the fetch was in flight: the map must never hold a version
    // older than an invalidation it has been told about.
    if (epoch === this.epoch) for (const [tag, version] of result) this.mergeOne(tag, version);
    return result;
  }

  /** Applies versions announced on the bus or returned by a bump (max-merge); starts a new generation. */
  apply(versions: Record<string, number>): void {
    for (const tag in versions) this.mergeOne(tag, versions[tag]!);
    this.generation += 1;
  }

  /** Forgets every local version (messages may have been lost) and distrusts the map until the next own ping. */
  reset(): void {
    this.local.clear();
    this.epoch += 1;
    this.generation += 1;
    this.trustedUntil = 0;
  }

  /** Bumps each tag's version in Redis; returns the new versions and the approximate entry count under them. */
  async bump(tags: readonly string[]): Promise<{ versions: Record<string, number>; entries: number }> {
    const unique = [...new Set(tags)];
    const results = await Promise.all(
      unique.map((tag) =>
        this.redis.call((c) => BUMP_TAG_VERSION.run(c, [this.keys.tagVersion(tag), this.keys.tagCount(tag)], [this.tagTtlMs])),
      ),
    );
    const versions: Record<string, number> = {};
    let entries = 0;
    unique.forEach((tag, i) => {
      const [version, count] = results[i] as [string, number];
      versions[tag] = Number(version);
      entries += Number(count);
    });
    return { versions, entries };
  }

  /** Notes `fullKey` as written under each tag (for the approximate count); errors are the caller's to ignore. */
  async noteKeys(fullKey: string, tags: readonly string[], ttlMs: number): Promise<void> {
    await Promise.all(
      tags.map((tag) => this.redis.call((c) => NOTE_TAGGED_KEY.run(c, [this.keys.tagCount(tag)], [fullKey, Math.max(ttlMs, 1_000)]))),
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
