import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startService, type RunningService } from "../../../backend/src/service.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { testConfig, testLogger, uniquePrefix } from "../../support/test-env.ts";

const ADMIN_KEY = `sw_shutdown_${uniquePrefix("admin-key")}`;

describe("service stop() while Redis is hung (SIGSTOP: connections open, no replies)", () => {
  let redis: ThrowawayRedis;
  let service: RunningService;

  beforeAll(async () => {
    redis = await ThrowawayRedis.start();
    service = await startService(testConfig({ REDIS_URL: redis.url, ADMIN_API_KEY: ADMIN_KEY }), testLogger());
    await service.realtime.subscribed;
  });
  afterAll(async () => {
    await redis?.kill();
  });

  it("still finishes, every step bounded, and closes open WebSockets and the HTTP server", async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${service.port}/ws`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    redis.freeze();
    const started = performance.now();
    await service.stop();
    const tookMs = performance.now() - started;
    // Before the steps were bounded this never resolved (the pub/sub UNSUBSCRIBE waited for the frozen server).
    expect(tookMs).toBeLessThan(15_000);
    expect(await closed).toBe(1001);
    expect(service.server.listening).toBe(false);
  }, 30_000);
});
