import { LuaScript } from "../cache/transport/lua-script.ts";

/**
 * The Lua scripts of the activity side. Each touches only keys passed in KEYS, all of one guild (one hash tag), so
 * it runs on a cluster; each is atomic. Node's cost per ioredis command is what limits recording, so a flush sends a
 * guild's whole aggregate as the arguments of one script (chunked, see guild-write-script.ts) instead of one command
 * per counter and member.
 */

/**
 * Applies one flush of a guild's aggregated activity. KEYS: the keys it touches. ARGV: operations, each a code and
 * its operands (`k` = an index into KEYS):
 *   h k field by                HINCRBY (minute and hour counters)
 *   i k by                      INCRBY (day, week and month counters)
 *   x k atMs                    PEXPIREAT
 *   z n k1..kn c m1 b1..mc bc   ZINCRBY b m on each of the n keys, for c members (a board's day, week and month)
 *   d k day ttlMs               ZADD NX day day, then PEXPIRE ttlMs (a user's active day)
 * Returns the number of operations applied.
 */
export const RECORD_GUILD_ACTIVITY = new LuaScript(
  "swRecordGuildActivity",
  `
local a = ARGV
local i = 1
local ops = 0
while i <= #a do
  local op = a[i]
  if op == 'h' then
    redis.call('HINCRBY', KEYS[tonumber(a[i + 1])], a[i + 2], a[i + 3])
    i = i + 4
  elseif op == 'z' then
    local n = tonumber(a[i + 1])
    local keys = {}
    for k = 1, n do keys[k] = KEYS[tonumber(a[i + 1 + k])] end
    local c = tonumber(a[i + n + 2])
    local first = i + n + 3
    for j = first, first + 2 * c - 1, 2 do
      local member, by = a[j], a[j + 1]
      for k = 1, n do redis.call('ZINCRBY', keys[k], by, member) end
    end
    i = first + 2 * c
  elseif op == 'i' then
    redis.call('INCRBY', KEYS[tonumber(a[i + 1])], a[i + 2])
    i = i + 3
  elseif op == 'x' then
    redis.call('PEXPIREAT', KEYS[tonumber(a[i + 1])], a[i + 2])
    i = i + 3
  elseif op == 'd' then
    local key = KEYS[tonumber(a[i + 1])]
    redis.call('ZADD', key, 'NX', a[i + 2], a[i + 2])
    redis.call('PEXPIRE', key, a[i + 3])
    i = i + 4
  else
    return redis.error_reply('unknown activity operation ' .. tostring(op) .. ' at ' .. i)
  end
  ops = ops + 1
end
return ops
`,
);

/**
 * Reads counter hashes compactly: for each key, one string `field,value,field,value,...` ('' when missing), so a
 * timeline costs Node one reply string per hash instead of an array of hundreds. KEYS: the hashes.
 */
export const READ_COUNTER_HASHES = new LuaScript(
  "swReadCounterHashes",
  `
local out = {}
for k = 1, #KEYS do out[k] = table.concat(redis.call('HGETALL', KEYS[k]), ',') end
return out
`,
);

/**
 * A leaderboard in one round trip. KEYS: the sorted set. ARGV: limit, member ('' for none). Returns
 * {top (member, score, ... highest first), members, tie group of the last score in byte order (when the top is
 * full), {score, higher} of the member or false}. Redis orders equal scores in reverse byte order in ZREVRANGE:
 * the caller re-takes the last tie group from ZRANGEBYSCORE so a cut through a tie is deterministic.
 */
export const READ_LEADERBOARD = new LuaScript(
  "swReadLeaderboard",
  `
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local top = redis.call('ZREVRANGE', key, 0, limit - 1, 'WITHSCORES')
local members = redis.call('ZCARD', key)
local tied = {}
if limit > 0 and #top == 2 * limit then
  local last = top[2 * limit]
  local lastScore = tonumber(last)
  local above = 0
  for j = 2, #top, 2 do
    if tonumber(top[j]) > lastScore then above = above + 1 end
  end
  tied = redis.call('ZRANGEBYSCORE', key, last, last, 'LIMIT', 0, limit - above)
end
local standing = false
if ARGV[2] ~= '' then
  local score = redis.call('ZSCORE', key, ARGV[2])
  if score then standing = {score, redis.call('ZCOUNT', key, '(' .. score, '+inf')} end
end
return {top, members, tied, standing}
`,
);
