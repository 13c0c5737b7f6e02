import type { Cluster } from "ioredis";
import { CacheUnavailableError } from "../cache-errors.ts";
import type { LuaScript } from "../transport/lua-script.ts";
import type { RedisGateway } from "../transport/redis-gateway.ts";

/** One command of a batch: the full key that routes it, the command as ioredis takes it, the script it runs (EVALSHA). */
interface BatchCommand {
  route: string;
  command: [name: string, ...args: (string | number)[]];
  script?: LuaScript;
}

/**
 * Commands on namespaced keys sent together as one pipeline through the cache's gateway (breaker, timeout, latency
 * stats), for writers that must not pay a round trip per command (activity counters). Each command is atomic on
 * its own (a script too); the batch is not a transaction. On a cluster the batch is split into one pipeline per hash
 * tag (`{...}` in the key, else the key itself), so each pipeline stays in one slot.
 * Values are passed as given (numbers and strings): JSON-encode structured values before adding them.
 */
export class StructureBatch {
  private readonly commands: BatchCommand[] = [];
  /** Keys (as given) that `expireAt` was queued for, so a writer can remember which expiries it already sent. */
  readonly expiryKeys: string[] = [];

  constructor(
    private readonly gateway: RedisGateway,
    private readonly fullKey: (key: string) => string,
  ) {}

  /** Commands queued so far. */
  get length(): number {
    return this.commands.length;
  }

  /** INCRBY key by. */
  incrby(key: string, by: number): this {
    return this.push("incrby", key, Math.trunc(by));
  }

  /** HINCRBY key field by. */
  hincrby(key: string, field: string, by: number): this {
    return this.push("hincrby", key, field, Math.trunc(by));
  }

  /** ZINCRBY key by member. */
  zincrby(key: string, by: number, member: string): this {
    return this.push("zincrby", key, by, member);
  }

  /** ZADD key [NX] score member. */
  zadd(key: string, score: number, member: string, options: { nx?: boolean } = {}): this {
    return options.nx ? this.push("zadd", key, "NX", score, member) : this.push("zadd", key, score, member);
  }

  /** HSET key field value (value stored as given). */
  hset(key: string, field: string, value: string): this {
    return this.push("hset", key, field, value);
  }

  /** HDEL key field. */
  hdel(key: string, field: string): this {
    return this.push("hdel", key, field);
  }

  /** SADD key member. */
  sadd(key: string, member: string): this {
    return this.push("sadd", key, member);
  }

  /** SREM key member. */
  srem(key: string, member: string): this {
    return this.push("srem", key, member);
  }

  /** LPUSH key value. */
  lpush(key: string, value: string): this {
    return this.push("lpush", key, value);
  }

  /** LTRIM key start stop. */
  ltrim(key: string, start: number, stop: number): this {
    return this.push("ltrim", key, start, stop);
  }

  /** PEXPIREAT key atMs: the key goes away at that epoch millisecond (at once if it is in the past). */
  expireAt(key: string, atMs: number): this {
    this.expiryKeys.push(key);
    return this.push("pexpireat", key, Math.ceil(atMs));
  }

  /** PEXPIRE key ms. */
  expire(key: string, ms: number): this {
    return this.push("pexpire", key, Math.ceil(ms));
  }

  /**
   * EVALSHA of `script` on `keys` (all sharing one hash tag) with `args`; a server that does not know the script
   * (NOSCRIPT: restarted, or flushed) gets it once by EVAL, in a second pipeline of just those calls.
   */
  script(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): this {
    const full = keys.map((key) => this.fullKey(key));
    this.commands.push({ route: full[0]!, command: ["evalsha", script.sha, full.length, ...full, ...args], script });
    return this;
  }

  /**
   * Sends every queued command (one pipeline per hash tag on a cluster) and resolves with their replies in order;
   * rejects with E_CACHE_UNAVAILABLE when Redis is down, the breaker is open, or any command failed.
   */
  async exec(): Promise<unknown[]> {
    if (this.commands.length === 0) return [];
    const groups = this.gateway.isCluster ? groupBySlot(this.commands) : [this.commands];
    try {
      const replies = await Promise.all(
        groups.map((group) => this.gateway.call((client) => sendPipeline(client as Cluster, group), group[0]!.route)),
      );
      return replies.flat();
    } catch (error) {
      throw new CacheUnavailableError("batch", error);
    }
  }

  private push(name: string, key: string, ...args: (string | number)[]): this {
    const full = this.fullKey(key);
    this.commands.push({ route: full, command: [name, full, ...args] });
    return this;
  }
}

async function sendPipeline(client: Cluster, commands: BatchCommand[]): Promise<unknown[]> {
  const results = (await client.pipeline(commands.map((entry) => entry.command)).exec()) ?? [];
  // A script the server does not know did not run at all: sending it again by EVAL applies it exactly once.
  const unknown = results.flatMap(([error], i) =>
    error?.message.startsWith("NOSCRIPT") && commands[i]!.script ? [i] : [],
  );
  if (unknown.length > 0) {
    const again =
      (await client
        .pipeline(unknown.map((i) => ["eval", commands[i]!.script!.source, ...commands[i]!.command.slice(2)]))
        .exec()) ?? [];
    for (const [j, index] of unknown.entries()) results[index] = again[j] ?? [new Error("no reply to EVAL"), null];
  }
  return results.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

/** The part of a key Redis Cluster hashes: the first non-empty `{...}`, else the whole key. */
function hashTagOf(key: string): string {
  const open = key.indexOf("{");
  const close = open >= 0 ? key.indexOf("}", open + 1) : -1;
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

function groupBySlot(commands: BatchCommand[]): BatchCommand[][] {
  const bySlot = new Map<string, BatchCommand[]>();
  for (const command of commands) {
    const slot = hashTagOf(command.route);
    let group = bySlot.get(slot);
    if (!group) bySlot.set(slot, (group = []));
    group.push(command);
  }
  return [...bySlot.values()];
}
