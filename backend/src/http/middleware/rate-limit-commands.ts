import { createHash } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import type { SendCommandClusterDetails, RedisReply } from "rate-limit-redis";
import { CircuitOpenError } from "../../cache/transport/resilience-errors.ts";
import type { NodeBreakers } from "../../cache/transport/node-breakers.ts";
import type { RedisClient } from "../../redis/redis-connections.ts";

/**
 * rate-limit-redis's `sendCommandCluster` for ioredis, single node or cluster. rate-limit-redis names the key of
 * every command; this routes by it:
 * - `SCRIPT LOAD` with a key goes to the master owning that key's slot (the store reloads there after NOSCRIPT, e.g.
 *   on a replica just promoted, which Redis 7 gives no scripts); without a key (the store's start) to every master,
 *   answering the script's SHA-1 if any master took it. ioredis alone would send it to a random node, and the
 *   count of a key whose master lacked the script was lost (the request passed uncounted).
 * - Every other command goes through ioredis, which routes EVALSHA/DECR/DEL by their key.
 * - Each command passes the breaker of the key's master (refused at once while open: the limiter fails open without
 *   waiting) and is bounded by `breakers.bound`: the call timeout (a cluster connection queues commands while it
 *   refreshes its slot map), and failed at once, that master's breaker opened, when the master goes silent.
 */
export function routedRateLimitCommands(client: RedisClient, breakers: NodeBreakers) {
  return async ({ key, command }: SendCommandClusterDetails): Promise<RedisReply> => {
    const [name, ...args] = command;
    if (name === undefined) throw new Error("empty rate limit command");
    if (
      name.toUpperCase() === "SCRIPT" &&
      args[0]?.toUpperCase() === "LOAD" &&
      args[1] !== undefined &&
      key === undefined
    ) {
      return loadEverywhere(client, breakers, args[1]);
    }
    const breaker = key === undefined ? breakers.unrouted() : breakers.forKey(key);
    if (!breaker.allowRequest()) throw new CircuitOpenError(breaker.retryAt());
    const epoch = breaker.epoch;
    try {
      const node = name.toUpperCase() === "SCRIPT" && key !== undefined ? breakers.masterFor(key) : client;
      if (node === undefined) throw new Error(`no master is known for the slot of ${key}`);
      const reply = (await breakers.bound(breaker, node.call(name, ...args), "rate limit command")) as RedisReply;
      breaker.recordSuccess(epoch);
      return reply;
    } catch (error) {
      breaker.recordFailure(error, epoch);
      throw error;
    }
  };
}

/** SCRIPT LOAD on every master (one on a single node); resolves the SHA-1 if at least one took it. */
async function loadEverywhere(client: RedisClient, breakers: NodeBreakers, script: string): Promise<string> {
  const masters: Redis[] = (client as Cluster).isCluster ? (client as Cluster).nodes("master") : [client as Redis];
  if (masters.length === 0) throw new Error("no Redis master is known");
  const results = await Promise.allSettled(
    masters.map(async (node) => {
      const breaker = breakers.forNode(node);
      if (!breaker.allowRequest()) throw new CircuitOpenError(breaker.retryAt());
      const epoch = breaker.epoch;
      try {
        const sha = await breakers.bound(breaker, node.call("SCRIPT", "LOAD", script), "rate limit script load");
        breaker.recordSuccess(epoch);
        return sha;
      } catch (error) {
        breaker.recordFailure(error, epoch);
        throw error;
      }
    }),
  );
  if (!results.some((result) => result.status === "fulfilled")) throw (results[0] as PromiseRejectedResult).reason;
  // Every master answers the same SHA-1; a master that missed the load answers NOSCRIPT and gets it then.
  return createHash("sha1").update(script).digest("hex");
}
