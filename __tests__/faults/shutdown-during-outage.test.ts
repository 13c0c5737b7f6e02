import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ThrowawayRedis } from "../support/redis-server.ts";
import { DiscordDriver } from "../support/discord-driver.ts";
import { startLoad } from "../support/load-generator.ts";
import { startPostgresProxy, type PostgresProxy } from "../support/postgres-proxy.ts";
import { ServiceProcess } from "../support/service-process.ts";

// Short stage bounds keep the test's wall time small; the mechanism is the production one.
const STAGES = {
  SHUTDOWN_TIMEOUT_MS: "2000",
  INGEST_CLOSE_TIMEOUT_MS: "2000",
  INGEST_RETRY_MAX_MS: "500",
  DATABASE_CONNECT_TIMEOUT_MS: "1000",
};
const EVENTS_PER_SECOND = 300;

describe("SIGTERM while PostgreSQL is cut, events arriving, under keep-alive HTTP load", () => {
  let pgProxy: PostgresProxy;
  let redis: ThrowawayRedis;
  let driver: DiscordDriver;
  let spillDir: string;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    [pgProxy, redis, driver] = await Promise.all([startPostgresProxy(), ThrowawayRedis.start(), DiscordDriver.start()]);
    spillDir = await mkdtemp(path.join(tmpdir(), "spywatcher-spill-"));
  });
  afterAll(async () => {
    for (const service of services) await service.kill();
    await Promise.all([pgProxy.proxy.close(), redis.kill(), driver.close()]);
    await rm(spillDir, { recursive: true, force: true });
  });

  it("loses nothing: what PostgreSQL did not take is spilled, counted, logged, and replayed at the next start", async ({
    annotate,
  }) => {
    const env = {
      DATABASE_URL: pgProxy.databaseUrl,
      REDIS_URL: redis.url,
      INGEST_SPILL_DIR: spillDir,
      ...STAGES,
      ...driver.serviceEnv(),
    };
    const first = await ServiceProcess.start({ env });
    services.push(first);
    await driver.waitForBot();

    const load = startLoad({ baseUrl: first.url, concurrency: 8, next: () => ({ path: "/health" }) });
    driver.startStream(EVENTS_PER_SECOND);
    await driver.waitForStored(1);
    await pgProxy.proxy.cut();
    // Events keep arriving while PostgreSQL is unreachable: they pile up in the ingestion buffer.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    driver.stopStream();
    const sigtermAt = load.snapshot();
    const exit = await first.stop();
    const report = await load.stop();

    const deadline = first.logs(/shutting down/)[0]!.deadlineMs as number;
    expect(exit.code).toBe(0);
    expect(exit.tookMs).toBeLessThan(deadline);
    // Keep-alive clients were told to go (Connection: close) instead of being served until the process died.
    expect(report.connectionClose).toBeGreaterThan(0);
    // Idle keep-alive sockets are closed only after a grace, so no request on the way is reset.
    expect(report.byOutcome.ECONNRESET ?? 0).toBe(0);
    const servedAfterSigterm = (report.byOutcome["200"] ?? 0) - (sigtermAt.byOutcome["200"] ?? 0);

    const closed = first.logs(/ingestion closed/)[0];
    expect(closed).toBeDefined();
    const stopped = first.logs(/discord side stopped/)[0]!;
    const ingest = stopped.ingest as {
      accepted: number;
      written: number;
      spilled: number;
      abandonedOnClose: number;
      dropped: number;
    };
    expect(ingest.abandonedOnClose).toBe(0);
    expect(ingest.dropped).toBe(0);
    expect(ingest.spilled).toBeGreaterThan(0);
    expect(ingest.accepted).toBe(driver.sent);
    expect(await readdir(spillDir)).toHaveLength(1);

    // Next start, PostgreSQL back: the spill is replayed and removed.
    await pgProxy.proxy.restore();
    const second = await ServiceProcess.start({ env });
    services.push(second);
    await second.waitForLog(/spill replay: done/, 30_000);
    const stored = await driver.waitForStored(driver.sent);
    expect(stored).toBe(driver.sent);
    expect(await readdir(spillDir)).toHaveLength(0);
    expect((await second.stop()).code).toBe(0);

    const figures =
      `sent ${driver.sent}, written before SIGTERM ${ingest.written}, spilled ${ingest.spilled}, stored after replay ${stored}; ` +
      `stop took ${Math.round(exit.tookMs)} ms (deadline ${deadline} ms); HTTP: ${JSON.stringify(report.byOutcome)}, ` +
      `${servedAfterSigterm} answered after SIGTERM, ${report.connectionClose} with Connection: close, p99 ${report.p99Ms} ms`;
    // The figures docs/reliability.md quotes: in the test report (annotation) and on stdout.
    console.info(`[faults] ${figures}`);
    await annotate(figures);
  });
});
