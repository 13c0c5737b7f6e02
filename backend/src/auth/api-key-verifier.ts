import { LRUCache } from "lru-cache";
import { DependencyUnavailableError } from "../errors.ts";
import { withTimeout } from "../lib/with-timeout.ts";
import type { Logger } from "../logging/logger.ts";
import type { ApiKeyRepository } from "./api-key-repository.ts";
import { hashApiKey, hashesEqual, looksLikeApiKey } from "./api-key-secret.ts";
import { KeyLookupCache, type VerifiedKey } from "./key-lookup-cache.ts";
import { apiKeyUserId, BOOTSTRAP_ADMIN_KEY_ID, type ApiKeyPrincipal } from "./principal.ts";

/** Settings of the verifier (`ApiKeyServiceOptions` documents each one and its default). */
export interface ApiKeyVerifierOptions {
  repository: ApiKeyRepository;
  logger: Logger;
  adminHash: string | undefined;
  lookupCacheTtlMs: number;
  lookupCacheMax: number;
  lookupTimeoutMs: number;
  staleIfErrorMs: number;
  failureBackoffMs: number;
  lastUsedThrottleMs: number;
  maxNewKeyLookups: number;
  now: () => number;
}

const STALE_WARNING_INTERVAL_MS = 10_000;

/** The bootstrap admin key's principal (ADMIN_API_KEY): one frozen object, shared by every request. */
const BOOTSTRAP_ADMIN: ApiKeyPrincipal = Object.freeze({
  keyId: BOOTSTRAP_ADMIN_KEY_ID,
  userId: apiKeyUserId(BOOTSTRAP_ADMIN_KEY_ID),
  name: "bootstrap admin (ADMIN_API_KEY)",
  scope: "admin",
});
/** `fromMemory`'s answer for a key it knows is not valid (malformed, unknown or revoked). */
const REFUSED = Symbol("refused");

/**
 * Checks presented API keys: in-process lookup cache, one bounded query per key at a time, stale-if-error while
 * PostgreSQL fails (503 for keys it cannot vouch for, never a hang and never a 401 that only means "cannot tell"),
 * last-used writes off the request path.
 */
export class ApiKeyVerifier {
  private readonly lastUsedWrites = new Map<string, number>();
  private readonly pendingWrites = new Set<Promise<void>>();
  // A flood of bad keys must not become a flood of queries: refused hashes are remembered too.
  private readonly lookups: KeyLookupCache;
  // Concurrent requests with the same key share one query.
  private readonly inFlight = new Map<string, Promise<ApiKeyPrincipal | undefined>>();
  private readonly staleWarnings = new LRUCache<string, number>({ max: 1_000 });
  private readonly now: () => number;
  private failingUntil = 0;
  // Lookups in flight of hashes never verified here: what a flood of made-up keys produces (see maxNewKeyLookups).
  private newKeyLookups = 0;

  constructor(private readonly options: ApiKeyVerifierOptions) {
    this.now = options.now;
    this.lookups = new KeyLookupCache({
      freshMs: options.lookupCacheTtlMs,
      max: options.lookupCacheMax,
      now: options.now,
    });
  }

  /** Refuses a revoked key from now on, even while PostgreSQL is down (by hash too when the caller knows it). */
  forgetRevokedKey(keyId: string, keyHash?: string): void {
    this.lookups.revoke(keyId, keyHash);
  }

  /** Makes every cached lookup stale, so the next use of each key asks PostgreSQL again. */
  expireCachedLookups(): void {
    this.lookups.expireFresh();
  }

  /**
   * True when the key can be answered without a lookup this process could not afford under a flood: the bootstrap
   * admin key, or a key it has verified against PostgreSQL and does not know to be revoked.
   */
  isFamiliar(secret: string): boolean {
    const hash = hashApiKey(secret);
    return (
      (this.options.adminHash !== undefined && hashesEqual(hash, this.options.adminHash)) ||
      this.lookups.wasVerified(hash)
    );
  }

  /**
   * The principal of a key this process can vouch for without I/O: the bootstrap admin key, or a key verified here
   * whose lookup is still fresh (`lookupCacheTtlMs`) and not known to be revoked. Undefined otherwise (unknown,
   * refused, stale or malformed: `authenticate` decides those). Counts as a use of the key, like `authenticate`.
   */
  known(secret: string): ApiKeyPrincipal | undefined {
    const vouched = this.fromMemory(secret, hashApiKey(secret));
    return vouched === REFUSED ? undefined : vouched;
  }

  /** What the in-process memory alone says of a key: its principal, REFUSED, or undefined (ask PostgreSQL). */
  private fromMemory(secret: string, hash: string): ApiKeyPrincipal | typeof REFUSED | undefined {
    if (this.options.adminHash && hashesEqual(hash, this.options.adminHash)) return BOOTSTRAP_ADMIN;
    // Shape check before the database: garbage never costs a query.
    if (!looksLikeApiKey(secret)) return REFUSED;
    const known = this.lookups.get(hash);
    if (known.state === "refused") return REFUSED;
    if (known.state !== "active") return undefined;
    this.touch(known.principal.keyId);
    return known.principal;
  }

  /** Lookups of never-verified keys now waiting for PostgreSQL (at most `maxNewKeyLookups`). */
  newKeyLookupsInFlight(): number {
    return this.newKeyLookups;
  }

  /**
   * The principal of a presented key, or undefined when it is unknown, malformed or revoked. Throws
   * DependencyUnavailableError (503) when PostgreSQL fails and stale-if-error cannot vouch for the key, or when
   * `maxNewKeyLookups` lookups of never-verified keys are already in flight.
   */
  async authenticate(secret: string): Promise<ApiKeyPrincipal | undefined> {
    const hash = hashApiKey(secret);
    const vouched = this.fromMemory(secret, hash);
    if (vouched !== undefined) return vouched === REFUSED ? undefined : vouched;
    const stale = this.lookups.lastVerified(hash, this.options.staleIfErrorMs);
    // Right after a failure, a key stale-if-error can vouch for skips the database (see failureBackoffMs).
    if (stale && this.now() < this.failingUntil) return this.serveStale(stale, "a lookup failed moments ago");
    // Outside the try: a lookup refused by the bound is no database failure (no back-off, no stale-if-error).
    const pending = this.lookUpShared(hash);
    let principal: ApiKeyPrincipal | undefined;
    try {
      principal = await pending;
    } catch (error) {
      this.failingUntil = this.now() + this.options.failureBackoffMs;
      // Asked again, not reused from above: a revocation may have arrived while the lookup was failing.
      const fallback = this.lookups.lastVerified(hash, this.options.staleIfErrorMs);
      if (fallback) return this.serveStale(fallback, lastLine(error));
      throw new DependencyUnavailableError(
        "postgres",
        "Cannot check the API key right now: the database is unavailable",
        error,
      );
    }
    if (principal) this.touch(principal.keyId);
    return principal;
  }

  /** The lookup of this hash, shared with concurrent callers; throws at once when the bound on new keys is reached. */
  private lookUpShared(hash: string): Promise<ApiKeyPrincipal | undefined> {
    let pending = this.inFlight.get(hash);
    if (pending) return pending;
    const isNew = !this.lookups.wasVerified(hash);
    if (isNew) {
      // Made-up keys from many addresses must not take the whole pool: past the bound they get 503 at once
      // (no lookup, no timeout), while keys verified here are still looked up.
      if (this.newKeyLookups >= this.options.maxNewKeyLookups) {
        throw new DependencyUnavailableError(
          "postgres",
          "Too many checks of unfamiliar API keys are in progress: retry shortly",
        );
      }
      this.newKeyLookups += 1;
    }
    pending = this.lookUp(hash).finally(() => {
      this.inFlight.delete(hash);
      if (isNew) this.newKeyLookups -= 1;
    });
    this.inFlight.set(hash, pending);
    return pending;
  }

  private async lookUp(hash: string): Promise<ApiKeyPrincipal | undefined> {
    const started = this.lookups.startLookup();
    const record = await withTimeout(
      this.options.repository.findByHash(hash),
      this.options.lookupTimeoutMs,
      "api key lookup",
    );
    // The index lookup already matched the hash; compare again in constant time so no code path relies on `=`.
    if (!record || !hashesEqual(record.keyHash, hash)) {
      this.lookups.rememberRefused(hash, false, started);
      return undefined;
    }
    if (record.revokedAt) {
      this.lookups.rememberRefused(hash, true, started);
      return undefined;
    }
    const principal: ApiKeyPrincipal =
      record.scope === "admin"
        ? { keyId: record.id, userId: apiKeyUserId(record.id), name: record.name, scope: "admin" }
        : {
            keyId: record.id,
            userId: apiKeyUserId(record.id),
            name: record.name,
            scope: "guild",
            guildIds: record.guildIds,
          };
    return this.lookups.rememberActive(hash, principal, started) ? principal : undefined;
  }

  private serveStale(stale: VerifiedKey, reason: string): ApiKeyPrincipal {
    const now = this.now();
    const { keyId } = stale.principal;
    const warned = this.staleWarnings.get(keyId);
    // One warning per key per interval: an outage must not turn every request into a log line.
    if (warned === undefined || now - warned >= STALE_WARNING_INTERVAL_MS) {
      this.staleWarnings.set(keyId, now);
      this.options.logger.warn(
        { keyId, verifiedAgoMs: now - stale.verifiedAt, staleIfErrorMs: this.options.staleIfErrorMs, err: reason },
        "postgres unavailable: accepting an api key on its last verification (stale-if-error)",
      );
    }
    return stale.principal;
  }

  private touch(keyId: string): void {
    const now = this.now();
    const last = this.lastUsedWrites.get(keyId);
    if (last !== undefined && now - last < this.options.lastUsedThrottleMs) return;
    this.lastUsedWrites.set(keyId, now);
    // Best effort and off the request path: a failed last-used write must not fail the request.
    const write = this.options.repository
      .touchLastUsed(keyId, new Date(now))
      .catch((error: unknown) => {
        this.options.logger.warn({ keyId, err: (error as Error).message }, "could not record api key use");
      })
      .finally(() => this.pendingWrites.delete(write));
    this.pendingWrites.add(write);
  }

  /** Resolves when every last-used write started so far has finished (for shutdown and tests). */
  async whenIdle(): Promise<void> {
    await Promise.all([...this.pendingWrites]);
  }
}

/** The last line of an error's message: Prisma's messages open with a multi-line excerpt of the calling code. */
function lastLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().split("\n").at(-1) ?? message;
}
