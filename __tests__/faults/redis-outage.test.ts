import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANALYTICS_TYPES } from "../../backend/src/analytics/analytics-catalog.ts";
import { ThrowawayRedis } from "../support/redis-server.ts";
import { randomSnowflake, TEST_DATABASE_URL } from "../support/test-env.ts";
import { startLoad, type LoadReport } from "../support/load-generator.ts";
import { ServiceProcess } from "../support/service-process.ts";

const ADMIN_KEY = "faults-admin-key-0123456789abcdef";
const auth = { authorization: `Bearer ${ADMIN_KEY}` };
const PHASE_MS = 5_000;

/** Transactions committed in the test database so far (every query the service runs is one). */
async function committed(): Promise<number> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()",
    );
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

const fiveXX = (report: LoadReport) => Object.entries(report.byOutcome).filter(([outcome]) => /^5/.test(outcome));

/**
 * Issue 8: Redis killed or frozen under load must not cascade onto PostgreSQL: L1 copies keep serving, identical
 * loads share a run, analytics queries are capped; p99 within 2x a control run of the same test; hits back within
 * 2 s of Redis answering again.
 */
describe.each([
  { fault: "killed", cut: (r: ThrowawayRedis) => r.kill(), heal: (r: ThrowawayRedis) => r.resume() },
  {
    fault: "frozen (SIGSTOP)",
    cut: async (r: ThrowawayRedis) => r.freeze(),
    heal: async (r: ThrowawayRedis) => r.thaw(),
  },
])("Redis $fault under load (the real service process)", ({ fault, cut, heal }) => {
  let redis: ThrowawayRedis;
  let service: ServiceProcess | undefined;
  beforeAll(async () => {
    redis = await ThrowawayRedis.start();
  });
  afterAll(async () => {
    redis?.thaw();
    await service?.kill();
    await redis?.kill();
  });

  it("0 5xx, p99 <= 2x control, bounded PostgreSQL work, hits back within 2 s", async () => {
    service = await ServiceProcess.start({
      env: { REDIS_URL: redis.url, ADMIN_API_KEY: ADMIN_KEY, RATE_LIMIT_PER_MINUTE: "10000000" },
    });
    const guilds = [randomSnowflake(), randomSnowflake()];
    const paths = guilds.flatMap((guildId) =>
      ANALYTICS_TYPES.flatMap((type) =>
        ["since=24h", "since=7d"].map((window) => `/api/analytics/${type}?guildId=${guildId}&${window}`),
      ),
    );
    const get = (path: string) => fetch(`${service!.url}${path}`, { headers: auth });
    for (const path of paths) expect((await get(path)).status).toBe(200);
    const load = () =>
      startLoad({
        baseUrl: service!.url,
        concurrency: 8,
        durationMs: PHASE_MS,
        next: (i) => ({ path: paths[i % paths.length]!, headers: auth }),
      }).done;

    const control = await load();
    const queriesBefore = await committed();
    await cut(redis);
    const outage = await load();
    const queries = (await committed()) - queriesBefore;

    await heal(redis);
    const healed = performance.now();
    let recoveredMs = Number.NaN;
    while (performance.now() - healed < 10_000) {
      const res = await get(paths[0]!);
      if (res.headers.get("x-cache") === "HIT" && res.status === 200) {
        recoveredMs = performance.now() - healed;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20)); // polling the service: it has no event to await
    }
    const after = await load();

    const figures = {
      control: { total: control.total, p99Ms: control.p99Ms, byOutcome: control.byOutcome },
      outage: { total: outage.total, p99Ms: outage.p99Ms, byOutcome: outage.byOutcome, postgresTransactions: queries },
      after: { total: after.total, p99Ms: after.p99Ms, byOutcome: after.byOutcome },
      recoveredMs: Math.round(recoveredMs),
    };
    console.log(`[redis ${fault}] ${JSON.stringify(figures)}`);
    expect(fiveXX(outage)).toEqual([]);
    expect(fiveXX(after)).toEqual([]);
    expect(outage.p99Ms).toBeLessThanOrEqual(2 * Math.max(control.p99Ms, 50));
    // Bounded: at most a few queries per distinct analytic (new minute keys, coalesced), not one per request.
    expect(queries).toBeLessThan(paths.length * 4);
    expect(queries).toBeLessThan(outage.total / 4);
    expect(recoveredMs).toBeLessThan(2_000);
  });
});
