import type { CacheContext } from "./cache-context.ts";
import type { CacheEnvelope } from "./read/cache-envelope.ts";
import type { Duration, RememberOptions } from "./cache-types.ts";
import { parseDuration, parseOptionalDuration } from "./duration.ts";
import { validatePart } from "./keys/key-builder.ts";
import type { RememberPlan } from "./remember/remember-plan.ts";

/** Turns a call's arguments into what the engine runs: validated keys and tags, durations in ms, defaults applied. */
export class CallPlanner {
  /** Bounded memo of validated tags: the same few tags arrive on every call. */
  private readonly checkedTags = new Set<string>();

  constructor(private readonly ctx: CacheContext) {}

  /**
   * The last plan made for each options object, with the key and TTL it was made for. A caller that passes the
   * same options object for the same entry on every call (the analytics API remembers one per request shape) gets
   * the same plan back: no key strings, duration parsing or object per call. Plans are never mutated.
   */
  private readonly planned = new WeakMap<object, { key: string; ttl: Duration; plan: RememberPlan<unknown> }>();

  /** The resolved plan of one remember call. */
  plan<T>(key: string, ttl: Duration, options: RememberOptions<T>): RememberPlan<T> {
    const known = this.planned.get(options);
    if (known !== undefined && known.key === key && known.ttl === ttl) return known.plan as RememberPlan<T>;
    const plan = this.resolve(key, ttl, options);
    this.planned.set(options, { key, ttl, plan });
    return plan;
  }

  private resolve<T>(key: string, ttl: Duration, options: RememberOptions<T>): RememberPlan<T> {
    const defaults = this.ctx.options;
    return {
      key,
      fullKey: this.ctx.keys.entry(key),
      ttlMs: parseDuration(ttl),
      graceMs: parseOptionalDuration(options.grace, defaults.graceMs),
      tags: this.validTags(options.tags),
      schema: options.schema,
      softTimeoutMs: options.softTimeout === undefined ? defaults.softTimeoutMs : parseDuration(options.softTimeout),
      hardTimeoutMs: options.hardTimeout === undefined ? defaults.hardTimeoutMs : parseDuration(options.hardTimeout),
      refreshAheadAt: options.refreshAheadAt ?? defaults.refreshAheadAt,
      staleWhileRevalidate: options.staleWhileRevalidate ?? defaults.staleWhileRevalidate,
      statsLabel: options.statsLabel,
      lastGood: options.lastGood && {
        fullKey: this.ctx.keys.entry(options.lastGood.key),
        horizonMs: parseDuration(options.lastGood.horizon),
      },
    };
  }

  /** A new envelope created now, with the given tag versions. */
  envelope(
    value: unknown,
    ttl: Duration | undefined,
    grace: Duration | undefined,
    versions: Map<string, number>,
  ): CacheEnvelope {
    const createdAt = Date.now();
    const ttlMs = parseOptionalDuration(ttl, this.ctx.options.defaultTtlMs);
    return {
      value,
      createdAt,
      freshUntil: createdAt + ttlMs,
      graceUntil: createdAt + ttlMs + parseOptionalDuration(grace, this.ctx.options.graceMs),
      tags: Object.fromEntries(versions),
    };
  }

  /** The tags, each checked once (throws InvalidKeyError for a bad one). */
  validTags(tags: string[] | undefined): string[] {
    if (!tags) return [];
    for (const tag of tags) {
      if (this.checkedTags.has(tag)) continue;
      validatePart(tag, "tag");
      if (this.checkedTags.size >= 10_000) this.checkedTags.clear();
      this.checkedTags.add(tag);
    }
    return tags;
  }
}
