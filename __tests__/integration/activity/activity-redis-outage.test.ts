import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ActivityRecorder } from "../../../backend/src/activity/activity-recorder.ts";
import { activityRouter } from "../../../backend/src/http/activity-routes.ts";
import { createApp } from "../../../backend/src/http/app.ts";
import type { IngestEvent } from "../../../backend/src/ingest/event-records.ts";
import { closeServer, listen } from "../../../backend/src/lifecycle/http-server.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { randomSnowflake, testLogger } from "../../support/test-env.ts";
import { capturingLogger } from "../../support/capturing-logger.ts";
import { startActivityKit, type ActivityKit } from "../../support/activity-support.ts";

describe("activity with Redis down: recording never blocks, drops are counted and logged at most once a second, reads answer 503", () => {
  let redis: ThrowawayRedis;
  let kit: ActivityKit;
  const guildId = randomSnowflake();
  const message = (i: number): IngestEvent => ({
    kind: "message",
    messageId: String(i),
    guildId,
    channelId: "1",
    userId: "2",
    contentLength: 1,
    createdAt: new Date(),
  });

  beforeAll(async () => {
    redis = await ThrowawayRedis.start();
    // Production command timeout: this is an outage test.
    kit = await startActivityKit({ redisUrl: redis.url, commandTimeoutMs: 250 });
  });
  afterAll(async () => {
    await kit?.close().catch(() => undefined);
    await redis?.kill();
  });

  it("counts every metric of failed flushes as dropped, logs them about once a second, and records again once Redis is back", async () => {
    const { logger, lines } = capturingLogger();
    const recorder = new ActivityRecorder({ structures: kit.structures, logger, flushIntervalMs: 10 });
    await redis.kill();
    const started = performance.now();
    let recorded = 0;
    // 1.5 s of events: recording returns at once every time (no await on Redis), however the flushes fail.
    while (performance.now() - started < 1_500) {
      // Synchronous: nothing to await, so nothing the ingestion writer could wait on.
      expect(recorder.recordEvents([message(recorded)])).toBeUndefined();
      recorded += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await recorder.flush();
    const stats = recorder.stats();
    expect(stats.recorded).toBe(recorded);
    expect(stats.dropped).toBe(recorded);
    expect(stats.failedFlushes).toBeGreaterThan(3);
    const dropLogs = lines.filter((line) => String(line.msg).startsWith("activity metrics dropped"));
    expect(dropLogs.length).toBeGreaterThanOrEqual(1);
    expect(dropLogs.length).toBeLessThanOrEqual(3);
    expect(dropLogs.reduce((sum, line) => sum + Number(line.dropped), 0)).toBeLessThanOrEqual(recorded);

    await redis.resume();
    // The breaker lets a trial through after its recovery timeout; await the first successful flush.
    const deadline = Date.now() + 15_000;
    while (recorder.stats().flushed === 0 && Date.now() < deadline) {
      recorder.recordEvents([message(recorded)]);
      await recorder.flush();
      if (recorder.stats().flushed === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(recorder.stats().flushed).toBeGreaterThan(0);
    await recorder.close();
  });

  it("answers the activity routes with 503 E_ACTIVITY_UNAVAILABLE while Redis is down", async () => {
    await redis.kill();
    const app = createApp({
      logger: testLogger(),
      readinessChecks: [],
      routers: [
        {
          path: "/api",
          router: activityRouter({
            activity: { reader: kit.reader, live: kit.live, system: () => Promise.reject(new Error("unused")) },
            auth: { authenticate: async () => ({ scope: "admin", userId: "key:test", name: "test", keyId: "test" }) },
          }),
        },
      ],
    });
    const server = await listen(app, 0, "127.0.0.1");
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/activity`;
      for (const path of [
        `/live?guildId=${guildId}`,
        `/timeline?guildId=${guildId}`,
        `/leaderboard?guildId=${guildId}`,
        `/streaks?guildId=${guildId}&userId=2`,
      ]) {
        const started = performance.now();
        const response = await fetch(`${base}${path}`, { headers: { authorization: "Bearer x" } });
        expect(response.status, path).toBe(503);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe("E_ACTIVITY_UNAVAILABLE");
        expect(performance.now() - started).toBeLessThan(1_500);
      }
    } finally {
      await closeServer(server, 1_000);
      await redis.resume();
    }
  });
});
