import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForRedisReady } from "../../../backend/src/redis/redis-connections.ts";
import { startService, type RunningService } from "../../../backend/src/service.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { testConfig, testLogger } from "../../support/test-env.ts";

describe("health endpoints against real PostgreSQL and a Redis this test can kill", () => {
  let redis: ThrowawayRedis;
  let service: RunningService;

  beforeAll(async () => {
    redis = await ThrowawayRedis.start();
    service = await startService(
      testConfig({ REDIS_URL: redis.url, HEALTH_CHECK_TIMEOUT_MS: "2000", HEALTH_CACHE_TTL_MS: "0" }),
      testLogger(),
    );
    await waitForRedisReady(service.redis.client, 5_000);
  });
  afterAll(async () => {
    await service?.stop();
    await redis?.kill();
  });

  it("GET /health answers while the process lives", async () => {
    const res = await request(service.server).get("/health").expect(200);
    expect(res.body.status).toBe("ok");
  });

  it("GET /health/ready is 200 with both checks up", async () => {
    const res = await request(service.server).get("/health/ready").expect(200);
    // "degraded" when a non-critical check is off (under load: the application check's event loop delay).
    expect(res.body.status).toMatch(/^(ready|degraded)$/);
    expect(res.body.failing).toEqual([]);
    expect(res.body.checks.redis.status).toBe("up");
    expect(res.body.checks.postgres.status).toBe("up");
  });

  it("is 503 naming redis while Redis is down, answers within the timeout, and recovers", async () => {
    await redis.kill();
    const started = performance.now();
    const down = await request(service.server).get("/health/ready").expect(503);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(down.body.failing).toEqual(["redis"]);
    expect(down.body.checks.postgres.status).toBe("up");
    expect(down.body.checks.redis.error).toEqual(expect.any(String));

    await redis.resume();
    await waitForRedisReady(service.redis.client, 10_000);
    const up = await request(service.server).get("/health/ready").expect(200);
    expect(up.body.checks.redis.status).toBe("up");
  });

  it("is 503 naming postgres when PostgreSQL cannot be reached", async () => {
    const broken = await startService(
      testConfig({
        REDIS_URL: redis.url,
        DATABASE_URL: "postgresql://postgres@127.0.0.1:1/nowhere",
        HEALTH_CHECK_TIMEOUT_MS: "500",
      }),
      testLogger(),
    );
    try {
      await waitForRedisReady(broken.redis.client, 5_000);
      const res = await request(broken.server).get("/health/ready").expect(503);
      expect(res.body.failing).toEqual(["postgres"]);
      // The public route names the failure, never the internal address of the database.
      expect(JSON.stringify(res.body)).not.toMatch(/127\.0\.0\.1|nowhere/);
    } finally {
      await broken.stop();
    }
  });
});

describe("errors are JSON", () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService(testConfig(), testLogger());
  });
  afterAll(() => service?.stop());

  it("unknown routes are 404 with a code", async () => {
    const res = await request(service.server).get("/nope").expect(404);
    expect(res.body).toEqual({ error: { code: "E_NOT_FOUND", message: "No route for GET /nope" } });
  });

  it("a body sent to a route that takes none is never parsed: malformed JSON to POST /health is a 404", async () => {
    const res = await request(service.server)
      .post("/health")
      .set("content-type", "application/json")
      .send("{not json")
      .expect(404);
    expect(res.body.error.code).toBe("E_NOT_FOUND");
  });
});
