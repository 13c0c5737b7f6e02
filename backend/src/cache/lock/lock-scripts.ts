import { createHash } from "node:crypto";
import type { Cluster, Redis } from "ioredis";

/** A one-key Lua script run by EVALSHA, falling back to EVAL when the server does not know it yet (NOSCRIPT). */
export class OneKeyScript {
  private readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  /** Runs the script on `key` (routed to that key's slot in a cluster). */
  async run(redis: Redis | Cluster, key: string, args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, 1, key, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return redis.eval(this.source, 1, key, ...args);
    }
  }
}

/** Deletes the lock only if it still holds this owner's token. KEYS: lock. ARGV: token. Returns 1 or 0. */
export const RELEASE_IF_OWNER = new OneKeyScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`);

/** Resets the lock's TTL only if it still holds this owner's token. KEYS: lock. ARGV: token, TTL ms. Returns 1 or 0. */
export const EXTEND_IF_OWNER = new OneKeyScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`);
