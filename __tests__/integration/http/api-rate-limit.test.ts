import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { waitForRedisReady } from "../../../backend/src/redis/redis-connections.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { randomSnowflake, TEST_DATABASE_URL } from "../../support/test-env.ts";
import { buildApi, type ApiHarness } from "./analytics-api-harness.ts";

describe("per-key rate limit and Redis outages, on a Redis this test can kill", () => {
  let prisma: PrismaClient;
  let redis: ThrowawayRedis;
  let api: ApiHarness;
  let keyA: string;
  let keyB: string;
  const guildId = randomSnowflake();
  const path = `/api/analytics/roles?guildId=${guildId}&since=1h`;
  const call = (key: string) => request(api.app).get(path).set("authorization", `Bearer ${key}`);

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    redis = await ThrowawayRedis.start();
    api = buildApi({ prisma, redisUrl: redis.url, rateLimitPerMinute: 3 });
    await waitForRedisReady(api.redis.client, 5_000);
    keyA = (await api.keys.createKey({ name: "a", guildIds: [guildId] })).secret;
    keyB = (await api.keys.createKey({ name: "b", guildIds: [guildId] })).secret;
  });
  afterAll(async () => {
    await api?.close();
    await redis?.kill();
    await prisma?.$disconnect();
  });

  it("allows the limit per key, then answers 429 JSON with RateLimit headers; other keys are unaffected", async () => {
    for (let i = 0; i < 3; i++) {
      const ok = await call(keyA).expect(200);
      expect(ok.headers.ratelimit).toBe(`limit=3, remaining=${2 - i}, reset=60`);
    }
    const limited = await call(keyA).expect(429);
    expect(limited.body.error.code).toBe("E_RATE_LIMITED");
    expect(limited.headers["ratelimit-policy"]).toContain("3");
    await call(keyB).expect(200);
  });

  it("fails open while Redis is down (the analytic from this process's copy, or computed), and limits again once Redis is back", async () => {
    await redis.kill();
    for (let i = 0; i < 5; i++) {
      const res = await call(keyB).expect(200);
      // Served before the outage: this process's copy, marked stale (issue 8); else computed (BYPASS).
      expect(["STALE", "BYPASS"]).toContain(res.headers["x-cache"]);
      expect(res.headers).not.toHaveProperty("ratelimit");
    }
    // A fresh server has no counters and no scripts: the limiter must reload its scripts by itself.
    await redis.resume();
    await waitForRedisReady(api.redis.client, 10_000);
    // The limiter's breaker for that node closes on its next probe (every 250 ms): until then requests fail open,
    // uncounted. Count from the first answer that the limiter counted (it carries the RateLimit header).
    const statuses: number[] = [];
    const deadline = Date.now() + 10_000;
    for (;;) {
      const res = await call(keyB);
      if (res.headers.ratelimit !== undefined) {
        statuses.push(res.status);
        break;
      }
      expect(res.status).toBe(200);
      if (Date.now() > deadline) throw new Error("the rate limiter did not count again within 10 s of Redis's return");
    }
    for (let i = 0; i < 7; i++) statuses.push((await call(keyB)).status);
    // The restarted server lost every counter: 3 pass again, then 429.
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429]);
  });
});
