import { once } from "node:events";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guildAnalyticsTag } from "../../../backend/src/analytics/analytics-catalog.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { waitForRedisReady } from "../../../backend/src/redis/redis-connections.ts";
import { randomSnowflake, TEST_DATABASE_URL, TEST_REDIS_URL } from "../../support/test-env.ts";
import { buildApi, type ApiHarness } from "./analytics-api-harness.ts";

/**
 * A refresh at a soft invalidation reruns the loader of the latest read, possibly long after that read: the
 * analytic it stores must cover the window up to when it ran, not up to when that earlier request came.
 */
describe("analytics refreshed at a soft invalidation count rows up to the refresh", () => {
  const SINCE = new Date("2026-05-01T00:00:00.000Z");
  let clock = new Date("2026-05-01T12:00:00.000Z");
  let prisma: PrismaClient;
  let api: ApiHarness;
  let key: string;

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    api = buildApi({ prisma, redisUrl: TEST_REDIS_URL, now: () => clock });
    await waitForRedisReady(api.redis.client, 5_000);
    await api.cache.ready();
    key = (await api.keys.createKey({ name: "refresh window", admin: true })).secret;
  });
  afterAll(async () => {
    await api?.close();
    await prisma?.$disconnect();
  });

  it("rows written after the last read are in the refreshed entry, which is then served as a HIT", async () => {
    const guildId = randomSnowflake();
    const [early, late] = [randomSnowflake(), randomSnowflake()];
    const path = `/api/analytics/ghosts?guildId=${guildId}&since=${SINCE.toISOString()}`;
    const get = () => request(api.app).get(path).set("authorization", `Bearer ${key}`).expect(200);
    await prisma.typingEvent.create({
      data: { guildId, channelId: randomSnowflake(), userId: early, startedAt: new Date("2026-05-01T11:00:00.000Z") },
    });

    const first = await get();
    expect(first.headers["x-cache"]).toBe("MISS");
    expect(first.body.items.map((item: { userId: string }) => item.userId)).toEqual([early]);

    // Time passes; a new row lands after that read; then the guild's ghosts are invalidated softly.
    clock = new Date("2026-05-01T12:10:00.000Z");
    await prisma.typingEvent.create({
      data: { guildId, channelId: randomSnowflake(), userId: late, startedAt: new Date("2026-05-01T12:05:00.000Z") },
    });
    const refreshed = once(api.cache, "refresh:done");
    await api.cache.invalidateByTags([guildAnalyticsTag("ghosts", guildId)], { mode: "soft" });
    const [done] = (await refreshed) as [{ key: string; reason: string }];
    expect(done.reason).toBe("soft");

    const after = await get();
    expect(after.headers["x-cache"]).toBe("HIT");
    expect(after.body.window.until).toBe("2026-05-01T12:10:00.000Z");
    expect(after.body.items.map((item: { userId: string }) => item.userId).sort()).toEqual([early, late].sort());
  });
});
