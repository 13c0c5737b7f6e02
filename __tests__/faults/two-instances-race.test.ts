import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANALYTICS_TYPES } from "../../backend/src/analytics/analytics-catalog.ts";
import { ThrowawayRedis } from "../support/redis-server.ts";
import { uniquePrefix } from "../support/test-env.ts";
import { DiscordDriver } from "../support/discord-driver.ts";
import { startLoad } from "../support/load-generator.ts";
import { ServiceProcess } from "../support/service-process.ts";

const ADMIN_KEY = "faults-admin-key-0123456789abcdef";
const auth = { authorization: `Bearer ${ADMIN_KEY}` };
const RUN_MS = 60_000;

/**
 * Issue 8: two instances on one Redis and one database under read load while the guild is softly invalidated
 * every second (messages streaming in, INVALIDATION_COALESCE_MS 1 s, soft mode). Before the fix, a request that
 * had to recompute joined a background refresh skipped because the other instance held the lock and answered
 * 500 (TypeError reading 'envelope'); lurkers' 1 s queries then piled into 10 s statement timeouts (503).
 */
describe("two instances racing with soft invalidation every second", () => {
  let redis: ThrowawayRedis;
  let driver: DiscordDriver;
  const services: ServiceProcess[] = [];
  beforeAll(async () => {
    [redis, driver] = await Promise.all([ThrowawayRedis.start(), DiscordDriver.start()]);
  });
  afterAll(async () => {
    driver?.stopStream();
    await Promise.all(services.map((service) => service.kill()));
    await Promise.all([redis?.kill(), driver?.close()]);
  });

  it(`answers no 5xx in ${RUN_MS / 1000} s on either instance`, async () => {
    const keyPrefix = uniquePrefix("race"); // one cache for both: same prefix
    const common = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: keyPrefix,
      ADMIN_API_KEY: ADMIN_KEY,
      RATE_LIMIT_PER_MINUTE: "10000000",
      INVALIDATION_MODE: "soft",
      INVALIDATION_COALESCE_MS: "1000",
    };
    services.push(await ServiceProcess.start({ env: { ...common, ...driver.serviceEnv() } }));
    services.push(await ServiceProcess.start({ env: common }));
    await driver.waitForBot();
    const guildId = driver.guild.guild.id;
    const paths = ANALYTICS_TYPES.flatMap((type) =>
      ["since=24h", "since=7d"].map((window) => `/api/analytics/${type}?guildId=${guildId}&${window}`),
    );
    driver.startStream(20);
    const loads = services.map(
      (service) =>
        startLoad({
          baseUrl: service.url,
          concurrency: 4,
          durationMs: RUN_MS,
          next: (i) => ({ path: paths[i % paths.length]!, headers: auth }),
        }).done,
    );
    const reports = await Promise.all(loads);
    driver.stopStream();
    const figures = reports.map((r) => ({ total: r.total, byOutcome: r.byOutcome, p50Ms: r.p50Ms, p99Ms: r.p99Ms }));
    const refreshErrors = services.flatMap((service) => service.logs(/TypeError|background cache refresh failed/));
    console.log(
      `[two-instances] ${JSON.stringify({ figures, stored: await driver.storedMessages(), refreshErrors: refreshErrors.length })}`,
    );
    for (const report of reports) {
      expect(Object.keys(report.byOutcome).filter((outcome) => !/^2/.test(outcome))).toEqual([]);
      expect(report.total).toBeGreaterThan(0);
    }
    expect(services.flatMap((service) => service.logs(/TypeError/))).toEqual([]);
  });
});
