import { createHash } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import type { RedisClient } from "../../redis/redis-connections.ts";

/** A connection with this module's scripts defined on it as commands (see `LuaScript.run`). */
type ScriptedClient = Record<string, (numberOfKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>>;

/** Script names defined on each connection so far (a connection is given each script once, on first use). */
const definedOn = new WeakMap<Redis | Cluster, Set<string>>();

/**
 * A Lua script, run through ioredis's `defineCommand`: ioredis sends EVALSHA, falls back to EVAL when the server
 * does not know the script (NOSCRIPT: a restarted node, a promoted replica, SCRIPT FLUSH), and loads it in
 * pipelines. Every key of one run must share one slot on a cluster, where the run is routed by its first key.
 */
export class LuaScript {
  /** SHA-1 hex of the source (what EVALSHA names; a structure batch sends it in a pipeline). */
  readonly sha: string;

  /** `name`: the command name the script gets on each connection (unique per script). */
  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  /** Runs the script with `keys` (KEYS) and `args` (ARGV) on `client` (a connection, cluster or cluster node). */
  run(client: RedisClient | Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    let defined = definedOn.get(client);
    if (defined === undefined) {
      defined = new Set();
      definedOn.set(client, defined);
    }
    if (!defined.has(this.name)) {
      client.defineCommand(this.name, { lua: this.source });
      defined.add(this.name);
    }
    return (client as unknown as ScriptedClient)[this.name]!(keys.length, ...keys, ...args);
  }
}

/**
 * Reads tag versions; a missing one (never set, expired or EVICTED under allkeys-lru) is initialised to the
 * server time in microseconds. Every version ever handed out is at most the time it was made, so a
 * re-initialised tag can never equal a version an old entry carries: eviction never revives old entries.
 */
export const READ_TAG_VERSIONS = new LuaScript(
  "swReadTagVersions",
  `
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
`,
);

/**
 * Invalidates one tag: its version becomes max(current + 1, server time in µs) (monotonic even after
 * eviction), and the HyperLogLog of keys written under the old version is counted and dropped.
 * KEYS: version key, counter key (same slot). ARGV: tag key TTL ms. Returns {newVersion, approxEntries}.
 */
export const BUMP_TAG_VERSION = new LuaScript(
  "swBumpTagVersion",
  `
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
`,
);

/** Notes a key written under a tag (for the approximate count `invalidateByTag` reports); its TTL only grows. KEYS: counter. ARGV: key, TTL ms. */
export const NOTE_TAGGED_KEY = new LuaScript(
  "swNoteTaggedKey",
  `
redis.call('PFADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX')
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'GT')
return 1
`,
);

/**
 * Publishes on the bus with the next sequence number ("<seq>|<payload>"). Running it as a script routes every
 * bus message through the one node owning the sequence key, so all subscribers see one total order.
 * KEYS: sequence key. ARGV: channel, payload.
 */
export const PUBLISH_SEQUENCED = new LuaScript(
  "swPublishSequenced",
  `
local s = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], string.format('%d', s) .. '|' .. ARGV[2])
return s
`,
);

/**
 * Deletes a key only if it still holds the value that was read (compared by SHA-1), so a sweep never deletes an
 * entry rewritten since it read it. KEYS: the key. ARGV: SHA-1 hex of the value read. Returns 1 if deleted.
 */
export const UNLINK_IF_UNCHANGED = new LuaScript(
  "swUnlinkIfUnchanged",
  `
local v = redis.call('GET', KEYS[1])
if v and redis.sha1hex(v) == ARGV[1] then return redis.call('UNLINK', KEYS[1]) end
return 0
`,
);

/** INCRBY that gives a new counter a TTL. KEYS: counter. ARGV: by, TTL ms (0: none). */
export const INCREMENT_COUNTER = new LuaScript(
  "swIncrementCounter",
  `
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
`,
);
