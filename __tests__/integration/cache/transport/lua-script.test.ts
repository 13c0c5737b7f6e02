import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INCREMENT_COUNTER, LuaScript } from "../../../../backend/src/cache/transport/lua-script.ts";
import { TEST_REDIS_URL, uniquePrefix } from "../../../support/test-env.ts";

describe("LuaScript (ioredis defineCommand)", () => {
  let redis: Redis;
  const prefix = uniquePrefix("lua");

  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL, { protocol: 2 });
  });

  afterAll(() => redis.disconnect());

  it("runs with its keys and arguments, and again after SCRIPT FLUSH (NOSCRIPT falls back to EVAL)", async () => {
    const key = `${prefix}:counter`;
    await expect(INCREMENT_COUNTER.run(redis, [key], [2, 60_000])).resolves.toBe(2);
    await redis.script("FLUSH");
    await expect(INCREMENT_COUNTER.run(redis, [key], [3, 60_000])).resolves.toBe(5);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it("defines each script once per connection and keeps two scripts apart", async () => {
    const echoKey = new LuaScript("swTestEchoKey", "return KEYS[1]");
    const echoArg = new LuaScript("swTestEchoArg", "return ARGV[1]");
    await expect(echoKey.run(redis, [`${prefix}:a`], ["x"])).resolves.toBe(`${prefix}:a`);
    await expect(echoArg.run(redis, [`${prefix}:a`], ["x"])).resolves.toBe("x");
    await expect(echoKey.run(redis, [`${prefix}:b`], [])).resolves.toBe(`${prefix}:b`);
  });
});
