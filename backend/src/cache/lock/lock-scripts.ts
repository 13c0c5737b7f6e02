import { LuaScript } from "../transport/lua-script.ts";

/** Deletes the lock only if it still holds this owner's token. KEYS: lock. ARGV: token. Returns 1 or 0. */
export const RELEASE_IF_OWNER = new LuaScript(
  "swReleaseIfOwner",
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
);

/** Resets the lock's TTL only if it still holds this owner's token. KEYS: lock. ARGV: token, TTL ms. Returns 1 or 0. */
export const EXTEND_IF_OWNER = new LuaScript(
  "swExtendIfOwner",
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`,
);
