import type { Redis } from "ioredis";
import { CacheUnavailableError, InvalidKeyError } from "../cache-errors.ts";
import type { Duration } from "../cache-types.ts";
import { parseDuration } from "../duration.ts";
import type { KeyBuilder } from "../keys/key-builder.ts";
import type { RedisGateway } from "../transport/redis-gateway.ts";
import { StructureBatch } from "./structure-batch.ts";

/** Whitespace, control characters and glob characters: never in a structure key (braces are allowed: hash tags). */
const FORBIDDEN_IN_KEY = /[\s\p{Cc}*?[\]\\]/u;
const NAMESPACE_FORMAT = /^[a-z][a-z0-9-]{0,31}$/;

/** Options of a write that may set the key's time to live. */
export interface StructureWriteOptions {
  /** Time to live of the whole key, set on every write ("10s", "5m"; none: the key keeps its TTL or has none). */
  ttl?: Duration;
}

/**
 * Hash, list and set operations of the cache layer under `<cache prefix>:<namespace>:<key>`, apart from cache
 * entries (so `clear()` and the invalidated-entry sweep never touch them). Values, list items and set members are
 * JSON-encoded, so `redis-cli` shows them. Every call goes through the cache's gateway: the circuit breaker (refused
 * at once while open) and the command timeout apply; a failure rejects with E_CACHE_UNAVAILABLE (the caller decides
 * whether to fail open). A `{...}` part of a key is a Redis Cluster hash tag: keys sharing it share a slot.
 */
export class CacheStructures {
  /** The full-key prefix of this namespace, e.g. "spywatcher:cache:activity:". */
  readonly base: string;

  constructor(
    private readonly gateway: RedisGateway,
    keys: KeyBuilder,
    namespace: string,
  ) {
    if (!NAMESPACE_FORMAT.test(namespace) || namespace === keys.version || namespace.startsWith("_")) {
      throw new InvalidKeyError(
        namespace,
        `a structure namespace is 1-32 lower-case letters, digits or '-', and not the cache version "${keys.version}"`,
      );
    }
    this.base = `${keys.prefix}:${namespace}:`;
  }

  /** The full Redis key of `key` in this namespace; throws E_INVALID_KEY for an empty key or one with whitespace or glob characters. */
  key(key: string): string {
    if (typeof key !== "string" || key.length === 0 || FORBIDDEN_IN_KEY.test(key)) {
      throw new InvalidKeyError(
        String(key),
        "structure keys may not be empty or contain whitespace, control characters or * ? [ ] \\",
      );
    }
    return this.base + key;
  }

  /** A pipeline of counter and structure commands on keys of this namespace (see StructureBatch). */
  batch(): StructureBatch {
    return new StructureBatch(this.gateway, (key) => this.key(key));
  }

  /** HSET key field value (JSON); resolves true when the field is new. */
  async hset(key: string, field: string, value: unknown, options: StructureWriteOptions = {}): Promise<boolean> {
    const [added] = await this.write(key, options, (full, batch) =>
      batch.push(["hset", full, field, JSON.stringify(value)]),
    );
    return Number(added) === 1;
  }

  /** The decoded value of one field, or undefined. */
  async hget<T>(key: string, field: string): Promise<T | undefined> {
    return decode<T>(await this.call("hget", (c) => c.hget(this.key(key), field), this.key(key)));
  }

  /** Every field and decoded value of a hash ({} when the key is missing). */
  async hgetall<T>(key: string): Promise<Record<string, T>> {
    const raw = await this.call("hgetall", (c) => c.hgetall(this.key(key)), this.key(key));
    const decoded: Record<string, T> = {};
    for (const [field, value] of Object.entries(raw)) decoded[field] = decode<T>(value) as T;
    return decoded;
  }

  /** HDEL key ...fields; resolves with the number removed. */
  hdel(key: string, ...fields: string[]): Promise<number> {
    return this.call("hdel", (c) => c.hdel(this.key(key), ...fields), this.key(key));
  }

  /** LPUSH key ...values (JSON); resolves with the list's new length. */
  async lpush(key: string, values: unknown[], options: StructureWriteOptions = {}): Promise<number> {
    return Number(
      (
        await this.write(key, options, (full, batch) =>
          batch.push(["lpush", full, ...values.map((v) => JSON.stringify(v))]),
        )
      )[0],
    );
  }

  /** RPUSH key ...values (JSON); resolves with the list's new length. */
  async rpush(key: string, values: unknown[], options: StructureWriteOptions = {}): Promise<number> {
    return Number(
      (
        await this.write(key, options, (full, batch) =>
          batch.push(["rpush", full, ...values.map((v) => JSON.stringify(v))]),
        )
      )[0],
    );
  }

  /** Removes and returns the first item, or undefined. */
  async lpop<T>(key: string): Promise<T | undefined> {
    return decode<T>(await this.call("lpop", (c) => c.lpop(this.key(key)), this.key(key)));
  }

  /** Removes and returns the last item, or undefined. */
  async rpop<T>(key: string): Promise<T | undefined> {
    return decode<T>(await this.call("rpop", (c) => c.rpop(this.key(key)), this.key(key)));
  }

  /** Decoded items `start` to `stop` (inclusive; negative counts from the end, as in LRANGE). */
  async lrange<T>(key: string, start: number, stop: number): Promise<T[]> {
    return (await this.call("lrange", (c) => c.lrange(this.key(key), start, stop), this.key(key))).map(
      (item) => decode<T>(item) as T,
    );
  }

  /** LTRIM key start stop: keeps only that range. */
  async ltrim(key: string, start: number, stop: number): Promise<void> {
    await this.call("ltrim", (c) => c.ltrim(this.key(key), start, stop), this.key(key));
  }

  /** SADD key ...members (JSON); resolves with the number added. */
  async sadd(key: string, members: unknown[], options: StructureWriteOptions = {}): Promise<number> {
    return Number(
      (
        await this.write(key, options, (full, batch) =>
          batch.push(["sadd", full, ...members.map((m) => JSON.stringify(m))]),
        )
      )[0],
    );
  }

  /** SREM key ...members; resolves with the number removed. */
  srem(key: string, members: unknown[]): Promise<number> {
    return this.call("srem", (c) => c.srem(this.key(key), ...members.map((m) => JSON.stringify(m))), this.key(key));
  }

  /** Every decoded member of a set (unordered). */
  async smembers<T>(key: string): Promise<T[]> {
    return (await this.call("smembers", (c) => c.smembers(this.key(key)), this.key(key))).map(
      (member) => decode<T>(member) as T,
    );
  }

  /** True when `member` is in the set. */
  async sismember(key: string, member: unknown): Promise<boolean> {
    return (
      (await this.call("sismember", (c) => c.sismember(this.key(key), JSON.stringify(member)), this.key(key))) === 1
    );
  }

  /** Number of members of a set. */
  scard(key: string): Promise<number> {
    return this.call("scard", (c) => c.scard(this.key(key)), this.key(key));
  }

  /** Raw string values of many keys (counters), null where missing; one MGET per call (keys must share a slot on a cluster). */
  mget(keys: string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    const full = keys.map((key) => this.key(key));
    return this.call("mget", (c) => c.mget(...full), full[0]);
  }

  /** Deletes keys of this namespace (one UNLINK per key on a cluster); resolves with the number removed. */
  async del(keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const full = keys.map((key) => this.key(key));
    if (!this.gateway.isCluster) return this.call("del", (c) => c.unlink(...full), full[0]);
    const removed = await Promise.all(full.map((one) => this.call("del", (c) => c.unlink(one), one)));
    return removed.reduce((sum, n) => sum + n, 0);
  }

  /**
   * Runs one command against this namespace through the gateway (for reads the methods above do not cover);
   * `route` (a full key, or a node) picks the master whose breaker applies (default: any node's).
   */
  call<T>(operation: string, command: (client: Redis) => Promise<T>, route?: string | Redis): Promise<T> {
    return this.gateway
      .call((client) => command(client as Redis), route)
      .catch((error: unknown) => {
        if (error instanceof InvalidKeyError) throw error;
        throw new CacheUnavailableError(operation, error);
      });
  }

  /**
   * Logical keys of this namespace matching `pattern` (a glob after the namespace prefix), `count` per SCAN step,
   * on every master of a cluster; never KEYS. Yields pages so a caller can bound its work.
   */
  async *scan(pattern = "*", count = 500): AsyncGenerator<string[]> {
    const match = this.base + pattern;
    for (const node of this.gateway.masters()) {
      let cursor = "0";
      do {
        const [next, page] = await this.gateway
          .call(() => node.scan(cursor, "MATCH", match, "COUNT", count), node)
          .catch((error: unknown) => {
            throw new CacheUnavailableError("scan", error);
          });
        cursor = next;
        if (page.length > 0) yield page.map((full) => full.slice(this.base.length));
      } while (cursor !== "0");
    }
  }

  private async write(
    key: string,
    options: StructureWriteOptions,
    add: (fullKey: string, commands: (string | number)[][]) => void,
  ): Promise<unknown[]> {
    const full = this.key(key);
    const commands: (string | number)[][] = [];
    add(full, commands);
    if (options.ttl !== undefined) commands.push(["pexpire", full, parseDuration(options.ttl)]);
    const replies = await this.call("write", async (c) => (await c.pipeline(commands).exec()) ?? [], full);
    return replies.map(([error, reply]) => {
      if (error) throw new CacheUnavailableError("write", error);
      return reply;
    });
  }
}

function decode<T>(raw: string | null | undefined): T | undefined {
  if (raw === null || raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    // Written by something else than this API (e.g. redis-cli): hand back the raw string.
    return raw as T;
  }
}
