import { LRUCache } from "lru-cache";
import type { Principal } from "./principal.ts";

/** What this process knows about a presented key (by its hash) without asking PostgreSQL. */
export type KnownKey =
  | { state: "active"; principal: Principal }
  | { state: "refused"; revoked: boolean }
  | { state: "unknown" };

/** A key as last verified against PostgreSQL, and when (for stale-if-error). */
export interface VerifiedKey {
  principal: Principal;
  verifiedAt: number;
}

/** When a lookup asked PostgreSQL: its clock time and the cache's generation (see `expireFresh`). */
export interface LookupStart {
  at: number;
  generation: number;
}

/** Bounds and clock of the lookup cache. */
export interface KeyLookupCacheOptions {
  /** How long a lookup answers without PostgreSQL, in ms. */
  freshMs: number;
  /** Largest number of entries of each kind (verified keys, refused hashes, revoked ids). */
  max: number;
  /** Clock in ms. */
  now: () => number;
}

/**
 * In-process memory of API key lookups, keyed by the key's SHA-256 hash (never the key):
 * - verified keys, fresh for `freshMs`, then kept as the last known scope for stale-if-error;
 * - refused hashes: unknown ones for `freshMs`, revoked ones for good (a revocation is never undone);
 * - ids of keys known to be revoked (from this process or a broadcast), so a lookup that raced a revocation
 *   cannot bring the key back.
 * Verified and refused entries live in separate LRUs so a flood of bad keys cannot evict the keys that work.
 */
export class KeyLookupCache {
  private readonly verified: LRUCache<string, VerifiedKey & { generation: number }>;
  private readonly refused: LRUCache<string, { checkedAt: number; generation: number; revoked: boolean }>;
  private readonly revokedKeyIds: LRUCache<string, true>;
  private readonly hashByKeyId = new Map<string, string>();
  // Bumped when revocations may have been missed: entries of older generations are not fresh.
  private generation = 0;

  constructor(private readonly options: KeyLookupCacheOptions) {
    this.verified = new LRUCache({
      max: options.max,
      dispose: (value, hash) => {
        if (this.hashByKeyId.get(value.principal.keyId) === hash) this.hashByKeyId.delete(value.principal.keyId);
      },
    });
    this.refused = new LRUCache({ max: options.max });
    this.revokedKeyIds = new LRUCache({ max: options.max });
  }

  /** The fresh answer for this hash, if this process has one. */
  get(hash: string): KnownKey {
    const refused = this.refused.get(hash);
    if (refused && (refused.revoked || this.isFresh(refused.checkedAt, refused.generation))) {
      return { state: "refused", revoked: refused.revoked };
    }
    const verified = this.verified.get(hash);
    if (verified && this.isFresh(verified.verifiedAt, verified.generation)) return { state: "active", principal: verified.principal };
    return { state: "unknown" };
  }

  /** The last successful verification of this hash if it is at most `maxAgeMs` old and not known revoked. */
  lastVerified(hash: string, maxAgeMs: number): VerifiedKey | undefined {
    if (maxAgeMs <= 0 || this.refused.get(hash)?.revoked) return undefined;
    const verified = this.verified.get(hash);
    if (!verified || this.options.now() - verified.verifiedAt > maxAgeMs) return undefined;
    return this.revokedKeyIds.has(verified.principal.keyId) ? undefined : { principal: verified.principal, verifiedAt: verified.verifiedAt };
  }

  /** Call when a lookup is about to ask PostgreSQL; pass the result to `rememberActive` / `rememberRefused`. */
  startLookup(): LookupStart {
    return { at: this.options.now(), generation: this.generation };
  }

  /**
   * Records a successful lookup (freshness counts from when PostgreSQL was asked, not from its answer); returns
   * false, and records a revocation, when the key became known revoked meanwhile.
   */
  rememberActive(hash: string, principal: Principal, started: LookupStart): boolean {
    if (this.revokedKeyIds.has(principal.keyId)) {
      this.rememberRefused(hash, true, started);
      return false;
    }
    this.refused.delete(hash);
    this.verified.set(hash, { principal, verifiedAt: started.at, generation: started.generation });
    this.hashByKeyId.set(principal.keyId, hash);
    return true;
  }

  /** Records a lookup that found no active key: `revoked` for good, otherwise (unknown) for `freshMs`. */
  rememberRefused(hash: string, revoked: boolean, started: LookupStart): void {
    this.verified.delete(hash);
    this.refused.set(hash, { checkedAt: started.at, generation: started.generation, revoked });
  }

  /** Forgets a revoked key at once, by id (and by hash when the caller knows it): it is refused from now on. */
  revoke(keyId: string, hash?: string): void {
    this.revokedKeyIds.set(keyId, true);
    const known = hash ?? this.hashByKeyId.get(keyId);
    if (known) this.rememberRefused(known, true, this.startLookup());
  }

  /**
   * Makes every entry stale, including those of lookups still in flight: the next lookup of each key asks
   * PostgreSQL again. For when revocation broadcasts may have been missed. Verified keys stay available to
   * stale-if-error; revocations stay known.
   */
  expireFresh(): void {
    this.generation += 1;
  }

  private isFresh(checkedAt: number, generation: number): boolean {
    return generation === this.generation && this.options.now() - checkedAt < this.options.freshMs;
  }
}
