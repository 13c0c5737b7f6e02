import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ThrowawayRedis } from "../support/redis-server.ts";
import { DiscordDriver } from "../support/discord-driver.ts";
import { startLoad } from "../support/load-generator.ts";
import { startPostgresProxy, type PostgresProxy } from "../support/postgres-proxy.ts";
import { ServiceProcess } from "../support/service-process.ts";

/** A pg client through the proxy whose every wait is short, so a black-holed query fails fast. */
async function query(databaseUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 400, query_timeout: 400 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return "ok";
  } catch (error) {
    return (error as Error).message;
  } finally {
    void client.end().catch(() => undefined);
  }
}

describe("fault harness: the PostgreSQL proxy", () => {
  let pgProxy: PostgresProxy;
  beforeAll(async () => {
    pgProxy = await startPostgresProxy();
  });
  afterAll(async () => {
    await pgProxy.proxy.close();
  });

  it("passes, cuts (refused/reset), black-holes (silence, no reset) and restores", async () => {
    expect(await query(pgProxy.databaseUrl)).toBe("ok");
    const held = new pg.Client({ connectionString: pgProxy.databaseUrl, query_timeout: 400 });
    held.on("error", () => undefined);
    await held.connect();

    await pgProxy.proxy.blackHole();
    expect(pgProxy.proxy.mode).toBe("black-hole");
    // An open connection hears nothing (no reset: the client's own timeout is all that ends the wait)...
    await expect(held.query("SELECT 1")).rejects.toThrow(/timeout/i);
    // ...and a new one is accepted but never answered.
    expect(await query(pgProxy.databaseUrl)).toMatch(/timeout/i);

    await pgProxy.proxy.restore();
    expect(await query(pgProxy.databaseUrl)).toBe("ok");

    await pgProxy.proxy.cut();
    expect(await query(pgProxy.databaseUrl)).toMatch(/ECONNREFUSED/);
    await pgProxy.proxy.restore();
    expect(await query(pgProxy.databaseUrl)).toBe("ok");
    void held.end().catch(() => undefined);
  });
});

describe("fault harness: the service process", () => {
  let pgProxy: PostgresProxy;
  let redis: ThrowawayRedis;
  let driver: DiscordDriver;
  let service: ServiceProcess | undefined;
  beforeAll(async () => {
    [pgProxy, redis, driver] = await Promise.all([startPostgresProxy(), ThrowawayRedis.start(), DiscordDriver.start()]);
  });
  afterAll(async () => {
    await service?.kill();
    await Promise.all([pgProxy.proxy.close(), redis.kill(), driver.close()]);
  });

  it("starts main.ts, takes load and events, logs JSON, and exits 0 on SIGTERM", async () => {
    service = await ServiceProcess.start({
      env: { DATABASE_URL: pgProxy.databaseUrl, REDIS_URL: redis.url, ...driver.serviceEnv() },
    });
    await driver.waitForBot();
    const load = startLoad({
      baseUrl: service.url,
      concurrency: 4,
      next: () => ({ path: "/health" }),
      durationMs: 1_000,
    });
    driver.sendMessages(50);
    const report = await load.done;
    expect(report.byOutcome["200"]).toBe(report.total);
    expect(report.total).toBeGreaterThan(0);
    expect(report.timeline.length).toBeGreaterThanOrEqual(1);
    expect(await driver.waitForStored(50)).toBe(50);
    expect(driver.sent).toBe(50);

    const exit = await service.stop();
    expect(exit.code).toBe(0);
    expect(service.logs(/service stopped/)).toHaveLength(1);
  });
});
