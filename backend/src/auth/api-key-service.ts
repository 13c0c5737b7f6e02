import type { PrismaClient } from "../db/prisma-client.ts";
import { AuthRateLimitedError, NotFoundError, ValidationError } from "../errors.ts";
import { withTimeout } from "../lib/with-timeout.ts";
import type { Logger } from "../logging/logger.ts";
import { ApiKeyRepository, type ApiKeyRecord } from "./api-key-repository.ts";
import { generateApiKey, hashApiKey } from "./api-key-secret.ts";
import { ApiKeyVerifier } from "./api-key-verifier.ts";
import { FailedAuthLimiter } from "./failed-auth-limiter.ts";
import type { KeyRevocationBroadcaster } from "./key-revocation-broadcast.ts";
import type { ApiKeyPrincipal } from "./principal.ts";

/** Defaults of the key checks; the AUTH_* defaults of config/config.ts are these. */
export const API_KEY_DEFAULTS = { lookupTimeoutMs: 1_000, staleIfErrorMs: 300_000, failedAuthPerMinute: 30 } as const;

/** Default of `lookupCacheTtlMs`: without a revocation broadcast, other instances reject a revoked key within this. */
export const DEFAULT_LOOKUP_CACHE_TTL_MS = 10_000;
/** Default of `maxNewKeyLookups`: a quarter of the default PostgreSQL pool (DATABASE_POOL_MAX 10), rounded up. */
export const DEFAULT_MAX_NEW_KEY_LOOKUPS = 3;

/** Options of the API key service; every field has a default. */
export interface ApiKeyServiceOptions {
  prisma: PrismaClient;
  logger: Logger;
  /** Optional bootstrap admin key (ADMIN_API_KEY); only its SHA-256 hash is kept. */
  adminApiKey?: string | undefined;
  /** How long a looked-up key (or an unknown one) is answered without PostgreSQL, in ms (default 10,000). */
  lookupCacheTtlMs?: number;
  /** Largest number of remembered lookups of each kind (default 10,000). */
  lookupCacheMax?: number;
  /** Longest wait for PostgreSQL on a key lookup, in ms; past it the lookup counts as failed (default 1,000). */
  lookupTimeoutMs?: number;
  /**
   * Stale-if-error: while PostgreSQL fails, a key verified at most this many ms ago and not known to be revoked is
   * still accepted with its last known scope; 0 disables (default 300,000).
   */
  staleIfErrorMs?: number;
  /**
   * After a failed lookup, keys that stale-if-error can vouch for skip PostgreSQL for this many ms (default 1,000),
   * so a hung database costs one lookup timeout per interval, not one per request.
   */
  failureBackoffMs?: number;
  /** Tells other instances about revocations (default none: they reject a revoked key within `lookupCacheTtlMs`). */
  revocationBroadcaster?: KeyRevocationBroadcaster | undefined;
  /** At most one last-used write per key per this many ms (default 60,000). */
  lastUsedThrottleMs?: number;
  /**
   * Failed authentications per client address per minute (AUTH_FAILURES_PER_MINUTE, default 30; 0 disables). Past
   * it, keys from that address that this process has not verified get 429 before any lookup. Counted per process.
   */
  failedAuthPerMinute?: number;
  /** Client addresses the failed-authentication counter holds at once (default 10,000; least recently failing dropped). */
  failedAuthMaxClients?: number;
  /**
   * Lookups of keys this process has never verified that may wait for PostgreSQL at once (AUTH_MAX_NEW_KEY_LOOKUPS,
   * default 3); more get 503 at once, so made-up keys from many addresses cannot take the whole pool.
   */
  maxNewKeyLookups?: number;
  /** Clock (default Date.now), injectable for tests. */
  now?: () => number;
}

/** What `createKey` returns: the stored record and the secret, which is never available again. */
export interface CreatedApiKey {
  record: ApiKeyRecord;
  secret: string;
}

/** A key as listed: everything but the hash. */
export type ApiKeySummary = Omit<ApiKeyRecord, "keyHash">;

/**
 * How other running instances learn of a revocation: `published` on Redis pub/sub (at once, to those subscribed),
 * `failed` (Redis unreachable) or `disabled` (no broadcaster); in the last two cases they reject the key within the
 * lookup cache TTL.
 */
export type RevocationBroadcast = "published" | "failed" | "disabled";

/**
 * What `revokeKey` returns: the revoked key, how other instances were told and, when published, to how many
 * subscribers Redis delivered it (`receivers`; undefined on a Redis Cluster, whose PUBLISH reply counts one node only).
 */
export type RevokedApiKey = ApiKeySummary & { broadcast: RevocationBroadcast; receivers?: number | undefined };

/** Where a key was presented from, for the failed-authentication limit. */
export interface AuthenticationContext {
  /** The client's address as the HTTP layer sees it (Express `req.ip`, which honours TRUST_PROXY). */
  clientIp?: string | undefined;
}

const SNOWFLAKE = /^\d{17,20}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Creates, lists, revokes and checks API keys. Secrets are hashed at once and never logged or stored. Lookups are
 * bounded by a timeout; while PostgreSQL fails, recently verified keys keep working (stale-if-error) and other keys
 * get 503, never a hang and never a 401 that only means "cannot tell".
 */
export class ApiKeyService {
  private readonly repository: ApiKeyRepository;
  private readonly verifier: ApiKeyVerifier;
  private readonly now: () => number;
  /** Failed authentications per client address; the `/ws` upgrade may also call `check` and `recordFailure`. */
  readonly failedAuthLimiter: FailedAuthLimiter;

  constructor(private readonly options: ApiKeyServiceOptions) {
    this.repository = new ApiKeyRepository(options.prisma);
    this.now = options.now ?? Date.now;
    this.verifier = new ApiKeyVerifier({
      repository: this.repository,
      logger: options.logger,
      adminHash: options.adminApiKey ? hashApiKey(options.adminApiKey) : undefined,
      lookupCacheTtlMs: options.lookupCacheTtlMs ?? DEFAULT_LOOKUP_CACHE_TTL_MS,
      lookupCacheMax: options.lookupCacheMax ?? 10_000,
      lookupTimeoutMs: options.lookupTimeoutMs ?? API_KEY_DEFAULTS.lookupTimeoutMs,
      staleIfErrorMs: options.staleIfErrorMs ?? API_KEY_DEFAULTS.staleIfErrorMs,
      failureBackoffMs: options.failureBackoffMs ?? 1_000,
      lastUsedThrottleMs: options.lastUsedThrottleMs ?? 60_000,
      maxNewKeyLookups: options.maxNewKeyLookups ?? DEFAULT_MAX_NEW_KEY_LOOKUPS,
      now: this.now,
    });
    this.failedAuthLimiter = new FailedAuthLimiter({
      limit: options.failedAuthPerMinute ?? API_KEY_DEFAULTS.failedAuthPerMinute,
      windowMs: 60_000,
      maxClients: options.failedAuthMaxClients ?? 10_000,
      now: this.now,
    });
  }

  /** Creates a key scoped to admin or to a list of guild ids; the secret is returned once. */
  async createKey(input: { name: string; admin?: boolean; guildIds?: string[] }): Promise<CreatedApiKey> {
    const name = input.name.trim();
    const guildIds = [...new Set(input.guildIds ?? [])];
    if (!name || name.length > 100)
      throw new ValidationError("name: must be 1-100 characters", [
        { field: "name", message: "must be 1-100 characters" },
      ]);
    if (input.admin && guildIds.length) throw new ValidationError("a key is either admin or guild-scoped, not both");
    if (!input.admin && !guildIds.length)
      throw new ValidationError("guildIds: a guild-scoped key needs at least one guild id", [
        { field: "guildIds", message: "at least one guild id" },
      ]);
    const bad = guildIds.filter((id) => !SNOWFLAKE.test(id));
    if (bad.length)
      throw new ValidationError(`guildIds: not snowflakes: ${bad.join(", ")}`, [
        { field: "guildIds", message: "each must be 17-20 digits" },
      ]);
    const generated = generateApiKey();
    const record = await this.repository.insert({
      name,
      keyPrefix: generated.displayPrefix,
      keyHash: generated.hash,
      scope: input.admin ? "admin" : "guild",
      guildIds,
    });
    this.options.logger.info({ keyId: record.id, keyPrefix: record.keyPrefix, scope: record.scope }, "api key created");
    return { record, secret: generated.secret };
  }

  /** Every key without its hash, newest first. */
  async listKeys(): Promise<ApiKeySummary[]> {
    return (await this.repository.list()).map(({ keyHash: _hash, ...summary }) => summary);
  }

  /**
   * The key with this id while it is active (not revoked), bounded by the lookup timeout; undefined when it is
   * unknown or revoked. Sessions made from a key ask this when they refresh their scope.
   */
  async findActiveKey(id: string): Promise<ApiKeySummary | undefined> {
    if (!UUID.test(id)) return undefined;
    const record = await withTimeout(
      this.repository.findById(id),
      this.options.lookupTimeoutMs ?? API_KEY_DEFAULTS.lookupTimeoutMs,
      "api key lookup by id",
    );
    if (!record || record.revokedAt) return undefined;
    const { keyHash: _hash, ...summary } = record;
    return summary;
  }

  /**
   * Revokes a key: it stops working at once in this process and, through the broadcaster, on every running
   * instance; when the broadcast fails the revocation still stands and other instances follow within the lookup TTL.
   */
  async revokeKey(id: string): Promise<RevokedApiKey> {
    if (!UUID.test(id))
      throw new ValidationError("id: must be a key id (UUID) as shown by `keys list`", [
        { field: "id", message: "must be a UUID" },
      ]);
    const record = await this.repository.revoke(id, new Date(this.now()));
    if (!record) throw new NotFoundError(`No API key with id ${id}`);
    this.verifier.forgetRevokedKey(record.id, record.keyHash);
    const { broadcast, receivers } = await this.broadcastRevocation(
      record.id,
      record.revokedAt ?? new Date(this.now()),
    );
    this.options.logger.info({ keyId: id, broadcast, receivers }, "api key revoked");
    const { keyHash: _hash, ...summary } = record;
    return { ...summary, broadcast, receivers };
  }

  /** Applies a revocation made elsewhere (a broadcast): the key is refused from now on, even while PostgreSQL is down. */
  forgetRevokedKey(keyId: string): void {
    this.verifier.forgetRevokedKey(keyId);
  }

  /** Makes every cached lookup stale, so the next use of each key asks PostgreSQL (after broadcasts may have been lost). */
  expireCachedLookups(): void {
    this.verifier.expireCachedLookups();
  }

  /**
   * The principal of a presented key, or undefined when it is unknown, malformed or revoked. Throws
   * DependencyUnavailableError (503) when PostgreSQL fails and stale-if-error cannot vouch for the key, or too many
   * never-verified keys are being looked up. With `context.clientIp`, failures count against that address, and
   * once it is over `failedAuthPerMinute` a key this process has not verified throws AuthRateLimitedError (429)
   * before any lookup.
   */
  async authenticate(secret: string, context: AuthenticationContext = {}): Promise<ApiKeyPrincipal | undefined> {
    const { clientIp } = context;
    if (clientIp === undefined) return this.verifier.authenticate(secret);
    const verdict = this.failedAuthLimiter.check(clientIp);
    // Keys verified here cost no new lookup: a shared address (NAT, proxy) flooding wrong keys does not lock them out.
    if (verdict.limited && !this.verifier.isFamiliar(secret)) throw new AuthRateLimitedError(verdict.retryAfterSeconds);
    const principal = await this.verifier.authenticate(secret);
    if (!principal) this.failedAuthLimiter.recordFailure(clientIp);
    return principal;
  }

  /**
   * The principal of a key this process vouches for without I/O (see ApiKeyVerifier.known), else undefined: call
   * `authenticate`. No failed-attempt check is needed: a key answered here is one the limiter lets through anyway.
   */
  known(secret: string): ApiKeyPrincipal | undefined {
    return this.verifier.known(secret);
  }

  /** Lookups of never-verified keys now waiting for PostgreSQL (bounded by `maxNewKeyLookups`). */
  newKeyLookupsInFlight(): number {
    return this.verifier.newKeyLookupsInFlight();
  }

  private async broadcastRevocation(
    keyId: string,
    at: Date,
  ): Promise<{ broadcast: RevocationBroadcast; receivers?: number | undefined }> {
    const broadcaster = this.options.revocationBroadcaster;
    if (!broadcaster) return { broadcast: "disabled" };
    try {
      const receivers = await broadcaster.publish({ keyId, at: at.toISOString() });
      return { broadcast: "published", receivers };
    } catch (error) {
      this.options.logger.warn(
        { keyId, err: (error as Error).message },
        "could not broadcast the api key revocation: other instances reject the key once their lookup cache expires",
      );
      return { broadcast: "failed" };
    }
  }

  /** Resolves when every last-used write started so far has finished (for shutdown and tests). */
  async whenIdle(): Promise<void> {
    await this.verifier.whenIdle();
  }
}
