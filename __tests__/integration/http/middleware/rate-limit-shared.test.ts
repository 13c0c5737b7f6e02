import { afterEach, describe, expect, it } from "vitest";
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
});
