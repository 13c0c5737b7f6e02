import { createHash } from "node:crypto";
import calculateSlot from "cluster-key-slot";
import { InvalidKeyError } from "../cache-errors.ts";

/** Whitespace, control characters, glob characters and the cluster hash-tag braces: never allowed in a key part. */
const FORBIDDEN_IN_PART = /[\s\p{Cc}*?[\]{}\\]/u;
/** In a pattern the glob characters are the point; whitespace, control characters and braces are still refused. */
const FORBIDDEN_IN_PATTERN = /[\s\p{Cc}{}\\]/u;
const PREFIX_FORMAT = /^[A-Za-z0-9_-]+(?::[A-Za-z0-9_-]+)*$/;
const VERSION_FORMAT = /^[A-Za-z0-9_-]{1,16}$/;
/** Number of Redis Cluster hash slots. */
const SLOTS = 16_384;
/** Hash tag found for each slot the second registry was placed in (searched once per slot and process). */
const hashTagOfSlot = new Map<number, string>();
/** Logical keys may not start with the internal namespace. */
const SYSTEM_SEGMENT = "_sys";
/** Most logical keys whose full key is remembered (the memo is emptied when full, so it never grows past this). */
const ENTRY_MEMO_SIZE = 10_000;

/** Options of a KeyBuilder. */
export interface KeyBuilderOptions {
  /** Namespace of every key, e.g. "spywatcher:cache" (letters, digits, '_', '-', ':'-separated). */
  prefix: string;
  /** Cache format version; bumping it orphans every old entry (they expire by TTL). */
  version: string;
  /** Longest full key; longer keys are shortened with a hash suffix (default 250). */
  maxKeyLength?: number;
}

/**
 * The one place keys are built. Entries: `<prefix>:<version>:<logical key>`. Internal keys (tag versions, the
 * invalidation bus, the instance registry, locks) live under `<prefix>:_sys:<version>:...`, so `clear()` and
 * `deleteByPattern()` never touch them. Tag keys wrap the tag in `{}` so a tag's version and counter share a slot.
 */
export class KeyBuilder {
  readonly prefix: string;
  readonly version: string;
  readonly maxKeyLength: number;
  private readonly entryBase: string;
  private readonly systemBase: string;
  /** The second registry's key, once computed (`secondInstances`). */
  private secondRegistry: string | undefined;
  /** Logical key -> full key, for keys already validated: the same keys are read over and over. */
  private readonly entryMemo = new Map<string, string>();

  constructor(options: KeyBuilderOptions) {
    if (!PREFIX_FORMAT.test(options.prefix))
      throw new InvalidKeyError(options.prefix, "prefix must be word characters separated by ':'");
    if (!VERSION_FORMAT.test(options.version) || options.version === SYSTEM_SEGMENT) {
      throw new InvalidKeyError(options.version, "version must be 1-16 letters, digits, '_' or '-'");
    }
    this.prefix = options.prefix;
    this.version = options.version;
    this.maxKeyLength = options.maxKeyLength ?? 250;
    this.entryBase = `${this.prefix}:${this.version}:`;
    this.systemBase = `${this.prefix}:${SYSTEM_SEGMENT}:${this.version}:`;
    if (this.maxKeyLength < this.entryBase.length + 48)
      throw new InvalidKeyError(String(this.maxKeyLength), "maxKeyLength too small for the prefix");
  }

  /** Full Redis key of an entry; throws InvalidKeyError for a bad logical key. */
  entry(logicalKey: string): string {
    const known = this.entryMemo.get(logicalKey);
    if (known !== undefined) return known;
    const full = this.buildEntry(logicalKey);
    // Only valid keys get here (buildEntry throws otherwise), so the memo never vouches for a bad one.
    if (this.entryMemo.size >= ENTRY_MEMO_SIZE) this.entryMemo.clear();
    this.entryMemo.set(logicalKey, full);
    return full;
  }

  /** The logical key of a full entry key (shortened keys give their shortened form). */
  logicalOf(fullKey: string): string {
    return fullKey.startsWith(this.entryBase) ? fullKey.slice(this.entryBase.length) : fullKey;
  }

  /** SCAN MATCH pattern for logical keys matching `pattern` (a Redis glob). */
  entryPattern(pattern: string): string {
    if (pattern.length === 0 || FORBIDDEN_IN_PATTERN.test(pattern)) {
      throw new InvalidKeyError(
        pattern,
        "patterns may not be empty or contain whitespace, control characters, braces or '\\'",
      );
    }
    return this.entryBase + pattern;
  }

  /** SCAN MATCH pattern for every entry of this prefix and version. */
  allEntriesPattern(): string {
    return `${this.entryBase}*`;
  }

  /** SCAN MATCH pattern for every key of this prefix (entries, internal keys, any version). */
  everythingPattern(): string {
    return `${this.prefix}:*`;
  }

  /** Version counter key of a tag. */
  tagVersion(tag: string): string {
    validatePart(tag, "tag");
    return `${this.systemBase}tag:{${tag}}`;
  }

  /** HyperLogLog of the keys written under a tag since its last invalidation (same slot as the version key). */
  tagCount(tag: string): string {
    validatePart(tag, "tag");
    return `${this.systemBase}tagn:{${tag}}`;
  }

  /** The invalidation bus channel (also used as the routing key of its sequence counter). */
  busChannel(): string {
    return `${this.systemBase}bus`;
  }

  /** Sequence counter of the bus: every message carries the next number, so a lost message is detected. */
  busSequence(): string {
    return `${this.systemBase}bus:seq`;
  }

  /** The channel on which instances acknowledge invalidations to `instanceId`. */
  ackChannel(instanceId: string): string {
    return `${this.systemBase}ack:${instanceId}`;
  }

  /** ZSET of live instances (score: last heartbeat, epoch ms): the first registry. */
  instances(): string {
    return `${this.systemBase}instances`;
  }

  /**
   * The second registry (same content as `instances()`), in a slot of its own so that one dead master cannot silence
   * both (docs/cache.md, "Tag invalidation"). Its hash tag puts it 8,192 slots from the first registry, so the two are
   * on different masters whenever each master serves one contiguous range of at most 8,192 slots (redis-cli's even
   * split of 2 or more masters, kept by failovers; a resharded map may not be). Never the sequence key's slot either:
   * when that is the one 8,192 away, the slot next to it (the sequence key is then off the first registry's master).
   */
  secondInstances(): string {
    if (this.secondRegistry === undefined) {
      const first = calculateSlot(this.instances());
      const sequence = calculateSlot(this.busSequence());
      let slot = (first + SLOTS / 2) % SLOTS;
      if (slot === sequence) slot = (slot + 1) % SLOTS;
      this.secondRegistry = `${this.systemBase}instances2:{${hashTagFor(slot)}}`;
    }
    return this.secondRegistry;
  }

  /** Both registries: every heartbeat writes each, an invalidator reads each (rule 4 of "Tag invalidation"). */
  registries(): [string, string] {
    return [this.instances(), this.secondInstances()];
  }

  /** Prefix handed to the distributed lock for stampede locks (it appends `:lock:<name>`). */
  lockPrefix(): string {
    return this.systemBase.slice(0, -1);
  }

  private buildEntry(logicalKey: string): string {
    validatePart(logicalKey, "key");
    if (logicalKey === SYSTEM_SEGMENT || logicalKey.startsWith(`${SYSTEM_SEGMENT}:`)) {
      throw new InvalidKeyError(logicalKey, `keys may not start with "${SYSTEM_SEGMENT}"`);
    }
    const full = this.entryBase + logicalKey;
    if (full.length <= this.maxKeyLength) return full;
    // Too long: keep a readable head and make it unique with a hash of the whole logical key.
    const hash = createHash("sha256").update(logicalKey).digest("hex").slice(0, 40);
    return `${full.slice(0, this.maxKeyLength - hash.length - 1)}~${hash}`;
  }
}

/**
 * A hash tag whose slot is `slot`: the first of `reg-0`, `reg-1`, ... that hashes there (every slot has one up to
 * `reg-157791`; about 18,000 CRC16s, about 5 ms, on average). Deterministic, so every instance finds the same key.
 */
function hashTagFor(slot: number): string {
  let tag = hashTagOfSlot.get(slot);
  for (let n = 0; tag === undefined; n += 1) if (calculateSlot(`reg-${n}`) === slot) tag = `reg-${n}`;
  hashTagOfSlot.set(slot, tag);
  return tag;
}

/** Throws InvalidKeyError unless `part` is a non-empty key or tag without whitespace, control or glob characters. */
export function validatePart(part: string, what: "key" | "tag"): void {
  if (typeof part !== "string" || part.length === 0)
    throw new InvalidKeyError(String(part), `${what} must be a non-empty string`);
  if (FORBIDDEN_IN_PART.test(part)) {
    throw new InvalidKeyError(part, `${what} may not contain whitespace, control characters or any of * ? [ ] { } \\`);
  }
}
