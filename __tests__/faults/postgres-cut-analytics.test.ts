import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANALYTICS_TYPES } from "../../backend/src/analytics/analytics-catalog.ts";
import { ThrowawayRedis } from "../support/redis-server.ts";
import { randomSnowflake } from "../support/test-env.ts";
import { startLoad } from "../support/load-generator.ts";
import { startPostgresProxy, type PostgresProxy } from "../support/postgres-proxy.ts";
import { ServiceProcess } from "../support/service-process.ts";

const ADMIN_KEY = "faults-admin-key-0123456789abcdef";
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

/**
 * Issue 8: PostgreSQL cut (connections refused) across a minute boundary while dashboards poll relative windows.
 * Every analytic served before the cut keeps answering 200 STALE (the entry keys of `since=24h` and the default
 * `7d` change at the boundary), with no 5xx; one never computed answers 503.
 */
describe("PostgreSQL cut across a minute boundary (the real service process under load)", () => {
  let pgProxy: PostgresProxy;
  let redis: ThrowawayRedis;
  let service: ServiceProcess | undefined;
  beforeAll(async () => {
    [pgProxy, redis] = await Promise.all([startPostgresProxy(), ThrowawayRedis.start()]);
  });
  afterAll(async () => {
    await service?.kill();
    await Promise.all([pgProxy.proxy.close(), redis.kill()]);
  });

  it("every analytic served before is served STALE through the cut, 0 5xx; never computed: 503", async () => {
    service = await ServiceProcess.start({
      env: {
        DATABASE_URL: pgProxy.databaseUrl,
        REDIS_URL: redis.url,
        ADMIN_API_KEY: ADMIN_KEY,
        RATE_LIMIT_PER_MINUTE: "10000000",
      },
    });
    const guildId = randomSnowflake();
    const paths = ANALYTICS_TYPES.flatMap((type) =>
      ["since=24h", "", "since=15m"].map(
        (window) => `/api/analytics/${type}?guildId=${guildId}${window ? `&${window}` : ""}`,
      ),
    );
    const get = (path: string) => fetch(`${service!.url}${path}`, { headers: auth });
    for (const path of paths) expect((await get(path)).status).toBe(200); // served once before the outage

    // Cut 4 s before a minute boundary (wall-clock alignment: no event to await), then load for 10 s across it.
    const toBoundary = 60_000 - (Date.now() % 60_000);
    await new Promise((resolve) => setTimeout(resolve, toBoundary > 5_000 ? toBoundary - 4_000 : toBoundary + 56_000));
    const boundary = Math.ceil(Date.now() / 60_000) * 60_000;
    await pgProxy.proxy.cut();
    const load = startLoad({
      baseUrl: service.url,
      concurrency: 6,
      durationMs: 10_000,
      next: (i) => ({ path: paths[i % paths.length]!, headers: auth }),
    });
    const report = await load.done;
    expect(Date.now()).toBeGreaterThan(boundary + 4_000);

    // After the boundary: each one STALE with its age and warning; and one never computed answers 503.
    for (const path of paths) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("x-cache"), path).toBe("STALE");
      expect(res.headers.get("x-cache-stale-reason")).toBe("postgres-unavailable");
      expect(res.headers.get("warning")).toContain('110 - "Response is Stale"');
      expect(Number(res.headers.get("age"))).toBeGreaterThanOrEqual(4);
    }
    const never = await get(`/api/analytics/heatmap?guildId=${guildId}&since=3h`);
    expect(never.status).toBe(503);
    expect(((await never.json()) as { error: { code: string } }).error.code).toBe("E_DEPENDENCY_UNAVAILABLE");

    const fivexx = Object.entries(report.byOutcome).filter(([outcome]) => /^5/.test(outcome));
    console.log(
      `[postgres-cut] ${JSON.stringify({ total: report.total, byOutcome: report.byOutcome, p50Ms: report.p50Ms, p99Ms: report.p99Ms })}`,
    );
    expect(fivexx).toEqual([]);
    expect(report.byOutcome["200"]).toBe(report.total);

    await pgProxy.proxy.restore();
    const back = await get(paths[0]!);
    expect(back.status).toBe(200);
  });
});
