import { LRUCache } from "lru-cache";
import type { PrismaClient } from "../db/prisma-client.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import { ApiKeyRepository, type ApiKeyRecord } from "./api-key-repository.ts";
import { generateApiKey, hashApiKey, hashesEqual, looksLikeApiKey } from "./api-key-secret.ts";
import { BOOTSTRAP_ADMIN_KEY_ID, type Principal } from "./principal.ts";

/** Options of the API key service; every field has a default. */
export interface ApiKeyServiceOptions {
  prisma: PrismaClient;
  logger: Logger;
  /** Optional bootstrap admin key (ADMIN_API_KEY); only its SHA-256 hash is kept. */
  adminApiKey?: string | undefined;
  /** How long a looked-up key (or an unknown one) is remembered in process, in ms (default 10,000). */
  lookupCacheTtlMs?: number;
  /** Largest number of remembered lookups (default 10,000). */
  lookupCacheMax?: number;
  /** At most one last-used write per key per this many ms (default 60,000). */
  lastUsedThrottleMs?: number;
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

const SNOWFLAKE = /^\d{17,20}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Creates, lists, revokes and checks API keys. Secrets are hashed at once and never logged or stored. */
export class ApiKeyService {
  private readonly repository: ApiKeyRepository;
  private readonly adminHash: string | undefined;
  private readonly now: () => number;
  private readonly lastUsedThrottleMs: number;
  private readonly lastUsedWrites = new Map<string, number>();
  private readonly pendingWrites = new Set<Promise<void>>();
  // hash -> principal, or null for "no such (active) key": a flood of bad keys must not become a flood of queries.
  private readonly lookups: LRUCache<string, { principal: Principal | null }>;

  constructor(private readonly options: ApiKeyServiceOptions) {
    this.repository = new ApiKeyRepository(options.prisma);
    this.adminHash = options.adminApiKey ? hashApiKey(options.adminApiKey) : undefined;
    this.now = options.now ?? Date.now;
    this.lastUsedThrottleMs = options.lastUsedThrottleMs ?? 60_000;
    this.lookups = new LRUCache({ max: options.lookupCacheMax ?? 10_000, ttl: options.lookupCacheTtlMs ?? 10_000 });
  }

  /** Creates a key scoped to admin or to a list of guild ids; the secret is returned once. */
  async createKey(input: { name: string; admin?: boolean; guildIds?: string[] }): Promise<CreatedApiKey> {
    const name = input.name.trim();
    const guildIds = [...new Set(input.guildIds ?? [])];
    if (!name || name.length > 100) throw new ValidationError("name: must be 1-100 characters", [{ field: "name", message: "must be 1-100 characters" }]);
    if (input.admin && guildIds.length) throw new ValidationError("a key is either admin or guild-scoped, not both");
    if (!input.admin && !guildIds.length) throw new ValidationError("guildIds: a guild-scoped key needs at least one guild id", [{ field: "guildIds", message: "at least one guild id" }]);
    const bad = guildIds.filter((id) => !SNOWFLAKE.test(id));
    if (bad.length) throw new ValidationError(`guildIds: not snowflakes: ${bad.join(", ")}`, [{ field: "guildIds", message: "each must be 17-20 digits" }]);
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

  /** Revokes a key; it stops working at once in this process and within the lookup cache TTL elsewhere. */
  async revokeKey(id: string): Promise<ApiKeySummary> {
    if (!UUID.test(id)) throw new ValidationError("id: must be a key id (UUID) as shown by `keys list`", [{ field: "id", message: "must be a UUID" }]);
    const record = await this.repository.revoke(id, new Date(this.now()));
    if (!record) throw new NotFoundError(`No API key with id ${id}`);
    this.lookups.delete(record.keyHash);
    this.options.logger.info({ keyId: id }, "api key revoked");
    const { keyHash: _hash, ...summary } = record;
    return summary;
  }

  /** The principal of a presented key, or undefined when it is unknown, malformed or revoked. */
  async authenticate(secret: string): Promise<Principal | undefined> {
    const hash = hashApiKey(secret);
    if (this.adminHash && hashesEqual(hash, this.adminHash)) {
      return { keyId: BOOTSTRAP_ADMIN_KEY_ID, name: "bootstrap admin (ADMIN_API_KEY)", scope: "admin" };
    }
    // Shape check before the database: garbage never costs a query.
    if (!looksLikeApiKey(secret)) return undefined;
    const cached = this.lookups.get(hash);
    const principal = cached ? cached.principal : await this.lookUp(hash);
    if (principal) this.touch(principal.keyId);
    return principal ?? undefined;
  }

  private async lookUp(hash: string): Promise<Principal | null> {
    const record = await this.repository.findByHash(hash);
    // The index lookup already matched the hash; compare again in constant time so no code path relies on `=`.
    const principal: Principal | null =
      !record || record.revokedAt || !hashesEqual(record.keyHash, hash)
        ? null
        : record.scope === "admin"
          ? { keyId: record.id, name: record.name, scope: "admin" }
          : { keyId: record.id, name: record.name, scope: "guild", guildIds: record.guildIds };
    this.lookups.set(hash, { principal });
    return principal;
  }

  private touch(keyId: string): void {
    const now = this.now();
    const last = this.lastUsedWrites.get(keyId);
    if (last !== undefined && now - last < this.lastUsedThrottleMs) return;
    this.lastUsedWrites.set(keyId, now);
    // Best effort and off the request path: a failed last-used write must not fail the request.
    const write = this.repository
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
