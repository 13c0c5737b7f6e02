import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { CacheStatus, SpyCache } from "../../../backend/src/cache/index.ts";
import { createRedisConnections, type RedisConnections } from "../../../backend/src/redis/redis-connections.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { randomSnowflake, testLogger } from "../../support/test-env.ts";
import { CacheKit } from "../../support/cache-test-kit.ts";

/** Issue 14: once Redis answers again, the cache is used again within this long, however long the outage was. */
const BACK_WITHIN_MS = 2_000;

/**
 * A single node down long enough for the breaker's recovery wait to double (1 s, 2 s, 4 s with the service's
 * defaults): the probe (a PING every 250 ms while open) ends the wait as soon as Redis answers, so the outage does
 * not cost up to one more doubled wait after Redis is back.
 */
describe("breaker probing: a restarted Redis is used again within 2 s", () => {
  let server: ThrowawayRedis;
  let connections: RedisConnections;
  let kit: CacheKit;
  let cache: SpyCache;

  beforeAll(async () => {
    server = await ThrowawayRedis.start();
    kit = new CacheKit("probe");
    connections = createRedisConnections({ url: server.url, connectionName: "probe" }, testLogger());
    // The service's breaker defaults: 5 failures, 1 s first wait doubling to 10 s, 3 trials.
    cache = kit.cache({ redis: connections.client, subscriber: connections.subscriber });
    await cache.ready();
  });
  afterAll(async () => {
    await kit?.close();
    await connections?.close();
    await server?.kill();
  });

  it("after a 4.5 s outage under load, the first call that is not a bypass comes less than 2 s after Redis is back", async ({
    annotate,
  }) => {
    const key = `probe:${randomSnowflake()}`;
    const loader = async () => "value";
    expect((await cache.rememberWithMeta(key, "1m", loader)).status).toBe("miss");
    await server.kill();
    const statuses: { status: CacheStatus; at: number }[] = [];
    let running = true;
    const load = (async () => {
      while (running) {
        statuses.push({ status: (await cache.rememberWithMeta(key, "1m", loader)).status, at: performance.now() });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    const waitBeforeRestart = (await cache.getStats({ includeKeyspace: false })).breaker.recoveryWaitMs;
    await server.resume();
    const backAt = performance.now();
    try {
      await vi.waitFor(() => expect(statuses.some((s) => s.at > backAt && s.status === "hit")).toBe(true), {
        timeout: BACK_WITHIN_MS + 3_000,
        interval: 20,
      });
    } finally {
      running = false;
      await load;
    }
    const firstUsed = statuses.find((s) => s.at > backAt && s.status !== "bypass")!;
    const firstHit = statuses.find((s) => s.at > backAt && s.status === "hit")!;
    // The restarted Redis is empty: a miss stores the entry, then hits follow.
    expect(firstUsed.at - backAt).toBeLessThan(BACK_WITHIN_MS);
    expect(firstHit.at - backAt).toBeLessThan(BACK_WITHIN_MS);
    await annotate(
      `recovery wait had grown to ${waitBeforeRestart} ms; first ${firstUsed.status} ${Math.round(firstUsed.at - backAt)} ms ` +
        `and first hit ${Math.round(firstHit.at - backAt)} ms after Redis answered again`,
    );
  });
});
