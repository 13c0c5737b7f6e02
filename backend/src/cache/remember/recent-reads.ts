import { LRUCache } from "lru-cache";
import type { RememberPlan } from "./remember-plan.ts";

/** Bounds of the per-process memory of recently read keys (see `refreshOnSoftInvalidation`). */
export interface RecentReadsOptions {
  /** Most keys remembered; the least recently read is forgotten first. */
  maxKeys: number;
  /** A key not read for this long is forgotten (and never refreshed by a soft invalidation). */
  idleMs: number;
}

/** What a background refresh of a remembered key needs: the last call's plan (key, ttl, tags, options) and loader. */
export interface RecentRead {
  plan: RememberPlan<unknown>;
  loader: () => Promise<unknown>;
}

/**
 * The keys this process recently served through remember/rememberWithMeta, with what refreshing them needs, and an
 * index tag -> keys kept consistent with the LRU (its dispose hook unindexes every key it drops: evicted, idle or
 * replaced), so nothing is referenced past the LRU's bounds. A soft invalidation asks `tagged(tags)` which keys to
 * refresh at once instead of waiting for their next reader.
 */
export class RecentReads {
  private readonly lru: LRUCache<string, RecentRead>;
  private readonly byTag = new Map<string, Set<string>>();

  constructor(options: RecentReadsOptions) {
    this.lru = new LRUCache<string, RecentRead>({
      max: options.maxKeys,
      ttl: options.idleMs,
      updateAgeOnGet: true,
      dispose: (read, fullKey) => this.unindex(fullKey, read.plan.tags),
    });
  }

  /** Notes a remember call: on the hit path an LRU touch and two field writes when the key and its tags are known. */
  touch<T>(plan: RememberPlan<T>, loader: () => Promise<T>): void {
    // An untagged key cannot be invalidated by tag, so a soft invalidation never concerns it: skip the LRU's
    // recency bookkeeping on this hot path, only forgetting a record left from when the key had tags.
    if (plan.tags.length === 0) {
      if (this.lru.size !== 0) this.lru.delete(plan.fullKey);
      return;
    }
    const known = this.lru.get(plan.fullKey);
    if (known !== undefined && sameTags(known.plan.tags, plan.tags)) {
      known.plan = plan as RememberPlan<unknown>;
      known.loader = loader;
      return;
    }
    // New key, or its tags changed: replace the record (dispose unindexes the old tags first).
    if (known !== undefined) this.lru.delete(plan.fullKey);
    this.lru.set(plan.fullKey, { plan: plan as RememberPlan<unknown>, loader });
    for (const tag of plan.tags) {
      let keys = this.byTag.get(tag);
      if (keys === undefined) this.byTag.set(tag, (keys = new Set()));
      keys.add(plan.fullKey);
    }
  }

  /** The remembered (not idle) keys carrying any of `tags`, each once. Does not count as a read. */
  tagged(tags: Iterable<string>): RecentRead[] {
    // Drops idle keys (and their index entries) so a bump never refreshes them and nothing idle stays referenced.
    this.lru.purgeStale();
    const seen = new Set<string>();
    const out: RecentRead[] = [];
    for (const tag of tags) {
      const keys = this.byTag.get(tag);
      if (keys === undefined) continue;
      for (const fullKey of keys) {
        if (seen.has(fullKey)) continue;
        seen.add(fullKey);
        const read = this.lru.peek(fullKey);
        if (read !== undefined) out.push(read);
      }
    }
    return out;
  }

  /** Number of remembered keys (idle ones may count until the next `tagged` call or eviction). */
  get size(): number {
    return this.lru.size;
  }

  /** Number of tags in the index (for tests: it empties with the LRU). */
  get indexedTags(): number {
    return this.byTag.size;
  }

  /** Forgets everything (on close). */
  clear(): void {
    this.lru.clear();
    this.byTag.clear();
  }

  private unindex(fullKey: string, tags: readonly string[]): void {
    for (const tag of tags) {
      const keys = this.byTag.get(tag);
      if (keys === undefined) continue;
      keys.delete(fullKey);
      if (keys.size === 0) this.byTag.delete(tag);
    }
  }
}

/** Same tags in the same order (callers pass the same literal lists; a reordering only costs a re-index). */
function sameTags(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
