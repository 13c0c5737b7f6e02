import { LRUCache } from "lru-cache";
import type { ApiKeyPrincipal } from "./principal.ts";

/** What this process knows about a presented key (by its hash) without asking PostgreSQL. */
export type KnownKey =
  | { state: "active"; principal: ApiKeyPrincipal }
  | { state: "refused"; revoked: boolean }
  | { state: "unknown" };

/** A key as last verified against PostgreSQL, and when (for stale-if-error). */
export interface VerifiedKey {
  principal: ApiKeyPrincipal;
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
  /** Largest number of entries of each kind (verified keys, unknown hashes, revoked hashes, revoked ids). */
  max: number;
  /** Clock in ms. */
  now: () => number;
}

/**
 * In-process memory of API key lookups, keyed by the key's SHA-256 hash (never the key):
 * - verified keys, fresh for `freshMs`, then kept as the last known scope for stale-if-error;
 * - unknown hashes (no such key), refused for `freshMs`;
 * - revoked hashes, refused for good (a revocation is never undone), even while PostgreSQL is down;
 * - ids of keys known to be revoked (from this process or a broadcast), so a lookup that raced a revocation
 *   cannot bring the key back.
 * Each kind has its own LRU. Only unknown hashes can be created at will (any well-formed string), so a flood of
 * bad keys evicts only other unknown hashes: never the keys that work, nor revoked ones (which only keys that
 * really exist can become, so their LRU is bounded by the number of keys, not by what clients send).
 */
export class KeyLookupCache {
  private readonly verified: LRUCache<string, VerifiedKey & { generation: number }>;
  private readonly unknown: LRUCache<string, { checkedAt: number; generation: number }>;
  private readonly revokedHashes: LRUCache<string, true>;
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
    this.unknown = new LRUCache({ max: options.max });
    this.revokedHashes = new LRUCache({ max: options.max });
    this.revokedKeyIds = new LRUCache({ max: options.max });
  }

  /** The fresh answer for this hash, if this process has one. */
  get(hash: string): KnownKey {
    if (this.revokedHashes.get(hash)) return { state: "refused", revoked: true };
    const unknown = this.unknown.get(hash);
    if (unknown && this.isFresh(unknown.checkedAt, unknown.generation)) return { state: "refused", revoked: false };
    const verified = this.verified.get(hash);
    if (verified && this.isFresh(verified.verifiedAt, verified.generation))
      return { state: "active", principal: verified.principal };
    return { state: "unknown" };
  }

  /** The last successful verification of this hash if it is at most `maxAgeMs` old and not known revoked. */
  lastVerified(hash: string, maxAgeMs: number): VerifiedKey | undefined {
    if (maxAgeMs <= 0 || this.revokedHashes.has(hash)) return undefined;
    const verified = this.verified.get(hash);
    if (!verified || this.options.now() - verified.verifiedAt > maxAgeMs) return undefined;
    return this.revokedKeyIds.has(verified.principal.keyId)
      ? undefined
      : { principal: verified.principal, verifiedAt: verified.verifiedAt };
  }

  /** Call when a lookup is about to ask PostgreSQL; pass the result to `rememberActive` / `rememberRefused`. */
  startLookup(): LookupStart {
    return { at: this.options.now(), generation: this.generation };
  }

  /**
   * Records a successful lookup (freshness counts from when PostgreSQL was asked, not from its answer); returns
   * false, and records a revocation, when the key became known revoked meanwhile.
   */
  rememberActive(hash: string, principal: ApiKeyPrincipal, started: LookupStart): boolean {
    if (this.revokedKeyIds.has(principal.keyId)) {
      this.rememberRefused(hash, true, started);
      return false;
    }
    this.unknown.delete(hash);
    this.verified.set(hash, { principal, verifiedAt: started.at, generation: started.generation });
    this.hashByKeyId.set(principal.keyId, hash);
    return true;
  }

  /** Records a lookup that found no active key: `revoked` for good, otherwise (unknown) for `freshMs`. */
  rememberRefused(hash: string, revoked: boolean, started: LookupStart): void {
    this.verified.delete(hash);
    if (revoked) {
      this.unknown.delete(hash);
      this.revokedHashes.set(hash, true);
    } else {
      this.unknown.set(hash, { checkedAt: started.at, generation: started.generation });
    }
  }

  /** True when this process has verified this hash against PostgreSQL (fresh or not) and does not know it revoked. */
  wasVerified(hash: string): boolean {
    const verified = this.verified.peek(hash);
    return verified !== undefined && !this.revokedHashes.has(hash) && !this.revokedKeyIds.has(verified.principal.keyId);
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
