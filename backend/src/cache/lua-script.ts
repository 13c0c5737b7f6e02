import { createHash } from "node:crypto";
import type { RedisClient } from "../redis/redis-connections.ts";

/** A Lua script run by EVALSHA, falling back to EVAL once when the server does not know it (NOSCRIPT). */
export class LuaScript {
  /** SHA-1 hex of the source (what EVALSHA names). */
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  /** Runs the script; routed by its first key in a cluster, so every key must share one slot. */
  async run(client: RedisClient, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/**
 * Reads tag versions; a missing one (never set, expired or EVICTED under allkeys-lru) is initialised to the
 * server time in microseconds. Every version ever handed out is at most the time it was made, so a
 * re-initialised tag can never equal a version an old entry carries: eviction never revives old entries.
 */
export const READ_TAG_VERSIONS = new LuaScript(`
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if not v then
    local t = redis.call('TIME')
    v = string.format('%d', t[1] * 1000000 + t[2])
    redis.call('SET', key, v, 'PX', ARGV[1])
  end
  out[i] = v
end
return out
`);

/**
 * Invalidates one tag: its version becomes max(current + 1, server time in µs) (monotonic even after
 * eviction), and the HyperLogLog of keys written under the old version is counted and dropped.
 * KEYS: version key, counter key (same slot). ARGV: tag key TTL ms. Returns {newVersion, approxEntries}.
 */
export const BUMP_TAG_VERSION = new LuaScript(`
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local cur = tonumber(redis.call('GET', KEYS[1]))
local nextv = now
if cur and cur >= now then nextv = cur + 1 end
local s = string.format('%d', nextv)
redis.call('SET', KEYS[1], s, 'PX', ARGV[1])
local n = redis.call('PFCOUNT', KEYS[2])
redis.call('DEL', KEYS[2])
local prev = ''
if cur then prev = string.format('%d', cur) end
return {s, n, prev}
`);

/** Notes a key written under a tag (for the approximate count `invalidateByTag` reports); its TTL only grows. KEYS: counter. ARGV: key, TTL ms. */
export const NOTE_TAGGED_KEY = new LuaScript(`
redis.call('PFADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX')
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'GT')
return 1
`);

/**
 * Publishes on the bus with the next sequence number ("<seq>|<payload>"). Running it as a script routes every
 * bus message through the one node owning the sequence key, so all subscribers see one total order.
 * KEYS: sequence key. ARGV: channel, payload.
 */
export const PUBLISH_SEQUENCED = new LuaScript(`
local s = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], string.format('%d', s) .. '|' .. ARGV[2])
return s
`);

/**
 * Deletes a key only if it still holds the value that was read (compared by SHA-1), so a sweep never deletes an
 * entry rewritten since it read it. KEYS: the key. ARGV: SHA-1 hex of the value read. Returns 1 if deleted.
 */
export const UNLINK_IF_UNCHANGED = new LuaScript(`
local v = redis.call('GET', KEYS[1])
if v and redis.sha1hex(v) == ARGV[1] then return redis.call('UNLINK', KEYS[1]) end
return 0
`);

/** INCRBY that gives a new counter a TTL. KEYS: counter. ARGV: by, TTL ms (0: none). */
export const INCREMENT_COUNTER = new LuaScript(`
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
`);
