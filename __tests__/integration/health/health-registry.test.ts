import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForRedisReady } from "../../../backend/src/redis/redis-connections.ts";
import { startService, type RunningService } from "../../../backend/src/service.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { testConfig, testLogger } from "../../support/test-env.ts";

const ADMIN_KEY = "health-admin-key-0123456789abcdef";

/** Makes `dir` refuse new files for real: immutable (chattr +i) as root, mode 0555 otherwise. Returns the undo. */
function makeUnwritable(dir: string): () => void {
  if (process.getuid?.() === 0) {
    execFileSync("chattr", ["+i", dir]);
    return () => execFileSync("chattr", ["-i", dir]);
  }
  chmodSync(dir, 0o555);
  return () => chmodSync(dir, 0o755);
}

describe("health registry over HTTP against the real service, Redis and PostgreSQL", () => {
  let redis: ThrowawayRedis;
  let service: RunningService;
  const diskDir = mkdtempSync(join(tmpdir(), "spywatcher-health-test-"));

  beforeAll(async () => {
    redis = await ThrowawayRedis.start();
    service = await startService(
      testConfig({
        REDIS_URL: redis.url,
        ADMIN_API_KEY: ADMIN_KEY,
        HEALTH_DISK_DIR: diskDir,
        HEALTH_CACHE_TTL_MS: "2000",
      }),
      testLogger(),
    );
    await waitForRedisReady(service.redis.client, 5_000);
  });
  afterAll(async () => {
    await service?.stop();
    await redis?.kill();
    rmSync(diskDir, { recursive: true, force: true });
  });

  it("GET /health/ready lists every check with status, latency, attempts, age; no address in the body", async () => {
    const res = await request(service.server).get("/health/ready").expect(200);
    expect(res.body.status).toBe("ready");
    expect(Object.keys(res.body.checks)).toEqual([
      "postgres",
      "redis",
      "redis-memory",
      "disk",
      "memory",
      "application",
      "composite",
    ]);
    for (const check of Object.values(res.body.checks) as Record<string, unknown>[]) {
      expect(check).toMatchObject({
        status: expect.stringMatching(/^(up|degraded)$/),
        attempts: 1,
        latencyMs: expect.any(Number),
        ageMs: expect.any(Number),
        critical: expect.any(Boolean),
      });
    }
    expect(res.body.checks.redis.critical).toBe(true);
    expect(res.body.checks.disk.critical).toBe(false);
    expect(JSON.stringify(res.body)).not.toContain(String(redis.port));
  });

  it("reuses a result younger than its cache TTL (age grows, no new probe)", async () => {
    const first = await request(service.server)
      .get("/health/details?fresh=true")
      .set("authorization", `Bearer ${ADMIN_KEY}`)
      .expect(200);
    const second = await request(service.server).get("/health/ready").expect(200);
    const postgresFirst = first.body.checks.find((check: { name: string }) => check.name === "postgres");
    expect(postgresFirst.cached).toBe(false);
    expect(second.body.checks.postgres.ageMs).toBeGreaterThanOrEqual(0);
    expect(second.body.checks.postgres.ageMs).toBeLessThan(2_000);
    const third = await request(service.server)
      .get("/health/details")
      .set("authorization", `Bearer ${ADMIN_KEY}`)
      .expect(200);
    const postgresThird = third.body.checks.find((check: { name: string }) => check.name === "postgres");
    expect(postgresThird).toMatchObject({ cached: true, checkedAt: postgresFirst.checkedAt });
  });

  it("GET /health/details is admin only and shows each check's definition", async () => {
    await request(service.server).get("/health/details").expect(401);
    const res = await request(service.server)
      .get("/health/details")
      .set("authorization", `Bearer ${ADMIN_KEY}`)
      .expect(200);
    const redisCheck = res.body.checks.find((check: { name: string }) => check.name === "redis");
    expect(redisCheck).toMatchObject({
      group: "infrastructure",
      critical: true,
      priority: 100,
      timeoutMs: 1_000,
      cacheTtlMs: 2_000,
      retry: { attempts: 2, initialDelayMs: 50, maxDelayMs: 500 },
    });
    expect(res.body.checks.map((check: { name: string }) => check.name)).toContain("application");
  });

  it("a directory that refuses writes fails the disk check for real (retried, degraded, still 200 when not critical)", async () => {
    const undo = makeUnwritable(diskDir);
    try {
      const res = await request(service.server)
        .get("/health/details?fresh=true")
        .set("authorization", `Bearer ${ADMIN_KEY}`)
        .expect(200);
      const disk = res.body.checks.find((check: { name: string }) => check.name === "disk");
      expect(disk).toMatchObject({ status: "down", attempts: 2, error: expect.stringMatching(/EPERM|EACCES/) });
      const composite = res.body.checks.find((check: { name: string }) => check.name === "composite");
      expect(composite).toMatchObject({ status: "down", error: "down: disk" });
      const ready = await request(service.server).get("/health/ready").expect(200);
      expect(ready.body).toMatchObject({
        status: "degraded",
        failing: [],
        degraded: expect.arrayContaining(["disk", "composite"]),
      });
    } finally {
      undo();
    }
    const healed = await request(service.server)
      .get("/health/details?fresh=true")
      .set("authorization", `Bearer ${ADMIN_KEY}`)
      .expect(200);
    expect(healed.body.checks.find((check: { name: string }) => check.name === "disk").status).toBe("up");
  });

  it("Redis memory above the maxmemory threshold degrades redis-memory (maxmemory set on the throwaway server)", async () => {
    const admin = new Redis(redis.url);
    try {
      const used = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))![1]);
      await admin.config("SET", "maxmemory", String(Math.floor(used * 1.05)));
      const res = await request(service.server)
        .get("/health/details?fresh=true")
        .set("authorization", `Bearer ${ADMIN_KEY}`)
        .expect(200);
      const memory = res.body.checks.find((check: { name: string }) => check.name === "redis-memory");
      expect(memory.status).toBe("degraded");
      expect(memory.details.worstPercent).toBeGreaterThan(90);
    } finally {
      await admin.config("SET", "maxmemory", "0");
      admin.disconnect();
    }
  });
});

describe("critical checks decide 503, thresholds injected for real", () => {
  let service: RunningService;
  const diskDir = mkdtempSync(join(tmpdir(), "spywatcher-health-critical-"));

  beforeAll(async () => {
    service = await startService(
      testConfig({
        HEALTH_DISK_DIR: diskDir,
        HEALTH_CRITICAL_CHECKS: "redis,postgres,disk",
        HEALTH_MEMORY_RSS_MAX_MB: "1",
        HEALTH_CACHE_TTL_MS: "0",
      }),
      testLogger(),
    );
    await waitForRedisReady(service.redis.client, 5_000);
  });
  afterAll(async () => {
    await service?.stop();
    rmSync(diskDir, { recursive: true, force: true });
  });

  it("an RSS threshold below the process's RSS fails the memory check; not critical, so still 200", async () => {
    const res = await request(service.server).get("/health/ready").expect(200);
    expect(res.body.checks.memory).toMatchObject({
      status: "down",
      critical: false,
      error: expect.stringContaining("RSS"),
    });
    expect(res.body.degraded).toContain("memory");
  });

  it("a critical disk check that fails answers 503 naming it", async () => {
    const undo = makeUnwritable(diskDir);
    try {
      const res = await request(service.server).get("/health/ready").expect(503);
      expect(res.body.status).toBe("unavailable");
      expect(res.body.failing).toEqual(["disk"]);
      expect(res.body.checks.disk.attempts).toBe(2);
    } finally {
      undo();
    }
    await request(service.server).get("/health/ready").expect(200);
  });
});
