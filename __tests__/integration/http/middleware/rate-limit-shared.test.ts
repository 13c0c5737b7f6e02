import { Redis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { NodeBreakers } from "../../../../backend/src/cache/transport/node-breakers.ts";
import { TcpProxy } from "../../../support/tcp-proxy.ts";
import { waitForRedisReady } from "../../../../backend/src/redis/redis-connections.ts";
import { TEST_REDIS_URL, uniquePrefix } from "../../../support/test-env.ts";
import { startLimitedInstance, type LimitedInstance } from "./rate-limit-kit.ts";

/** ENABLE_REDIS_RATE_LIMITING (issue 10): true counts in Redis for every instance, false in each process. */
describe("ENABLE_REDIS_RATE_LIMITING with two instances on one Redis", () => {
  const instances: LimitedInstance[] = [];
  afterEach(async () => {
    await Promise.all(instances.splice(0).map((instance) => instance.close()));
  });

  const startTwo = async (shared: boolean) => {
    const prefix = `${uniquePrefix("rl-shared")}:ratelimit:`;
    for (const name of ["a", "b"]) {
      instances.push(
        await startLimitedInstance({
          redis: { url: TEST_REDIS_URL, connectionName: `rl-${name}` },
          prefix,
          limit: 5,
          shared,
        }),
      );
    }
    await Promise.all(instances.map((instance) => waitForRedisReady(instance.redis.client, 5_000)));
    return instances;
  };

  it("true (the default): the two instances share one limit of 5 per user", async () => {
    const [a, b] = await startTwo(true);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i += 1) statuses.push(await (i % 2 === 0 ? a! : b!).hit("user-1"));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    expect(a!.logs.some((line) => line.msg.includes("in process"))).toBe(false);
  });

  it("false: each instance counts on its own (5 each) and says so at start-up", async () => {
    const [a, b] = await startTwo(false);
    const statuses: number[] = [];
    for (let i = 0; i < 14; i += 1) statuses.push(await (i % 2 === 0 ? a! : b!).hit("user-1"));
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.slice(10)).toEqual([429, 429, 429, 429]);
    for (const instance of [a!, b!]) {
      expect(instance.logs.map((line) => line.msg)).toContain(
        "rate limiting in process (ENABLE_REDIS_RATE_LIMITING=false): each instance counts its own requests",
      );
    }
  });

  it("with breakers passed (the service passes the cache's): the limiter's failures open them, it skips them while open, and closing it leaves them to their owner", async () => {
    const prefix = `${uniquePrefix("rl-shared")}:ratelimit:`;
    const proxy = await TcpProxy.start("127.0.0.1", Number(new URL(TEST_REDIS_URL).port || 6379));
    let shared: NodeBreakers | undefined;
    const instance = await startLimitedInstance({
      redis: { url: proxy.rewrite(TEST_REDIS_URL), connectionName: "rl-breakers" },
      prefix,
      limit: 2,
      breakers: (client) => {
        // A minute's recovery wait: within this test only a probe's PONG can end an open spell.
        shared = new NodeBreakers(client, {
          breaker: { minRecoveryTimeoutMs: 60_000, recoveryTimeoutMs: 60_000 },
          probeTimeoutMs: 250,
        });
        return shared;
      },
    });
    instances.push(instance);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      await waitForRedisReady(instance.redis.client, 5_000);
      const breaker = shared!.forKey(`${prefix}user-1`);
      expect(await instance.hit("user-1")).toBe(200);
      expect(await redis.get(`${prefix}user-1`)).toBe("1");
      // Redis gone for this instance: its counting fails, and the failures land in the breakers it was given (so the
      // cache that owns them skips that master too); once open, requests pass without trying.
      await proxy.cut();
      for (let i = 0; i < 6; i += 1) expect(await instance.hit("user-1")).toBe(200);
      expect(breaker.state).toBe("open");
      const from = instance.limiterMs.length;
      for (let i = 0; i < 3; i += 1) expect(await instance.hit("user-1")).toBe(200);
      expect(Math.max(...instance.limiterMs.slice(from))).toBeLessThan(50);
      expect(await redis.get(`${prefix}user-1`)).toBe("1");
      // Closing the limiter does not close breakers it was given: they go on probing for their owner, and a PONG
      // after Redis is back turns the open breaker half-open (closed breakers stop probing and would stay open).
      instance.limiter.close();
      await proxy.restore();
      await vi.waitFor(() => expect(breaker.state).not.toBe("open"), { timeout: 5_000, interval: 20 });
    } finally {
      shared?.close();
      redis.disconnect();
      await proxy.close();
    }
  });
});
