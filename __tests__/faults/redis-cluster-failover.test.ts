import { readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, describe, expect, it, vi } from "vitest";
import { ANALYTICS_TYPES, analyticsCacheKey, analyticsTags } from "../../backend/src/analytics/analytics-catalog.ts";
import { KeyBuilder } from "../../backend/src/cache/index.ts";
import { masterLookup, type MasterOfKey } from "../support/cluster-key-placement.ts";
import { startRedisCluster, type RedisClusterHandle } from "../support/redis-cluster.ts";
import { randomSnowflake, TEST_DATABASE_URL, uniquePrefix } from "../support/test-env.ts";
import { startLoad, type LoadAnswer } from "../support/load-generator.ts";
import { ServiceProcess } from "../support/service-process.ts";

const ADMIN_KEY = "faults-admin-key-0123456789abcdef";
const auth = { authorization: `Bearer ${ADMIN_KEY}` };
/**
 * Issue 14's node timeout (5 s; Redis's default is 15 s): the replica takes over 6-9 s after the fault. With 2 s (3-4 s
 * windows) the machine's swings of a few seconds moved the ratio as much as the fault did.
 */
const NODE_TIMEOUT_MS = 5_000;
/** Load before the measured stretch, not measured. */
const WARM_UP_MS = 4_000;
/** The steady stretch measured before the fault (a measurement window, not a wait for an event). */
const BEFORE_WINDOW_MS = 6_000;
/** Issue 14: the failed slots are served from cache again this soon after the replica says it is master. */
const RESUME_AFTER_PROMOTION_MS = 2_000;
/** Live masters may stall from this long before the promotion is seen (the election's config writes). */
const STALL_MARGIN_MS = 500;
/**
 * Analytics requested on other masters' slots and on the victim's: 24 in all, a third on the victim, as keys spread
 * over 3 masters (and as issue 14 measured: 24 analytics, one master of 3 killed).
 */
const ISOLATED_PATHS = 16;
const FAILED_PATHS = 8;
/** Longest any request may take (the 250 ms command timeout, plus a loaded machine's scheduling). */
const MAX_WAIT_MS = 2_500;
/** An exact window start (relative windows change their cache key every minute). */
const SINCE = new Date(Math.floor((Date.now() - 86_400_000) / 60_000) * 60_000);

/** Transactions committed or rolled back in the test database so far (every query the service runs is one). */
async function transactions(): Promise<number> {
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

/** CPU time (user + system) a process has used so far, ms, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop()!.trim().split(" ");
  // After "pid (comm)": state is field 3, utime 14 and stime 15, so indexes 11 and 12 here.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * `counts.isolated` analytics (the exact window SINCE) whose entry and tag versions all live on masters other than
 * `victim` ("isolated"), and `counts.failed` whose entry lives on `victim` ("failed"), drawn from new guilds until
 * both are full.
 */
async function placePaths(
  masterOf: MasterOfKey,
  keys: KeyBuilder,
  victim: number,
  counts: { isolated: number; failed: number },
): Promise<{ isolated: string[]; failed: string[] }> {
  const isolated: string[] = [];
  const failed: string[] = [];
  const guilds = new Set<string>();
  while (isolated.length < counts.isolated || failed.length < counts.failed) {
    const guildId = randomSnowflake();
    if (guilds.has(guildId)) continue;
    guilds.add(guildId);
    if (guilds.size > 200)
      throw new Error(`could not place ${counts.isolated} isolated and ${counts.failed} failed analytics`);
    for (const type of ANALYTICS_TYPES) {
      const path = `/api/analytics/${type}?guildId=${guildId}&since=${SINCE.toISOString()}`;
      const entryMaster = await masterOf(keys.entry(analyticsCacheKey(type, guildId, SINCE)));
      const tagMasters = await Promise.all(analyticsTags(type, guildId).map((tag) => masterOf(keys.tagVersion(tag))));
      if (entryMaster === victim) {
        if (failed.length < counts.failed) failed.push(path);
      } else if (!tagMasters.includes(victim) && isolated.length < counts.isolated) isolated.push(path);
    }
  }
  return { isolated, failed };
}

/**
 * Where the killed master is, by the bus keys it holds: "bus", the bus's sequence key and not the first instance
 * registry; "bus+registry", the sequence key and the first registry (the second registry is always elsewhere on this
 * cluster: docs/cache.md, "Tag invalidation"). A service prefix placed so, and the victim.
 */
type Placement = "bus" | "bus+registry";
async function placePrefix(
  masterOf: MasterOfKey,
  placement: Placement,
): Promise<{ prefix: string; keys: KeyBuilder; victim: number; onVictim: string[] }> {
  for (;;) {
    const prefix = uniquePrefix("cfo");
    const keys = new KeyBuilder({ prefix: `${prefix}:cache`, version: "v1" });
    const [sequence, first, second] = await Promise.all(
      [keys.busSequence(), ...keys.registries()].map((key) => masterOf(key)),
    );
    if ((sequence === first) !== (placement === "bus+registry")) continue;
    // The case no heartbeat survives (all three on one master) is the one left open; this cluster never has it (the
    // second registry may share the sequence key's master when the first registry is elsewhere).
    expect(sequence === first && first === second).toBe(false);
    const onVictim = (["sequence", "first", "second"] as const).filter(
      (_, i) => [sequence, first, second][i] === sequence,
    );
    return { prefix, keys, victim: sequence!, onVictim };
  }
}

/** Tag versions the service has read from Redis so far (its `tag_version_reads_total` counter), and when. */
async function tagVersionReads(service: ServiceProcess): Promise<{ at: number; reads: number }> {
  const at = performance.now();
  const body = await (await fetch(`${service.url}/metrics`, { headers: auth })).text();
  const reads = /^\w*tag_version_reads_total (\d+)/m.exec(body);
  if (!reads) throw new Error("no tag_version_reads_total in /metrics");
  return { at, reads: Number(reads[1]) };
}

const count = (answers: LoadAnswer[]) => {
  const out: Record<string, number> = {};
  for (const answer of answers) {
    const outcome = answer.status === 200 ? String(answer.headers["x-cache"]) : String(answer.status);
    out[outcome] = (out[outcome] ?? 0) + 1;
  }
  return out;
};

/**
 * Issue 14 end to end: the real service process (`main.ts`) on a 6-node loopback cluster
 * (`cluster-require-full-coverage no`) under a bounded keep-alive load of cached analytics; the master holding the
 * invalidation bus's sequence key (the hardest case: every instance stops trusting its tag map) is SIGKILLed or
 * SIGSTOPped, alone ("bus") or with the first instance registry ("bus+registry": then only the second registry's
 * heartbeats reach Redis, and rule 6 vouches from them). Requests whose entry and tag versions live on the other
 * masters must keep answering HIT without reading their tags' versions each time, the failed slots must answer HIT
 * again within 2 s of the promotion, throughput must hold (at least 0.5x the rate before the fault, and a floor of
 * 0.4x per CPU-second of the service), PostgreSQL work bounded.
 */
describe.each([
  { fault: "SIGKILL", placement: "bus" },
  { fault: "SIGSTOP", placement: "bus" },
  { fault: "SIGKILL", placement: "bus+registry" },
  { fault: "SIGSTOP", placement: "bus+registry" },
] as const)(
  "the service on a Redis Cluster whose master holding the $placement keys gets $fault under load",
  ({ fault, placement }) => {
    let cluster: RedisClusterHandle | undefined;
    let service: ServiceProcess | undefined;
    let victim: number | undefined;
    afterAll(async () => {
      if (victim !== undefined) cluster?.thaw(victim);
      await service?.kill();
      await cluster?.stop();
    });

    it("other masters' requests keep hitting, failed slots hit within 2 s of the promotion, throughput held, bounded PostgreSQL work", async () => {
      cluster = await startRedisCluster({ nodeTimeoutMs: NODE_TIMEOUT_MS, requireFullCoverage: false });
      const masterOf = await masterLookup(cluster.client());
      const placed = await placePrefix(masterOf, placement);
      const { prefix, keys } = placed;
      victim = placed.victim;
      // Isolated: entry and every tag version on live masters. Failed: the entry on the victim.
      const { isolated, failed } = await placePaths(masterOf, keys, victim, {
        isolated: ISOLATED_PATHS,
        failed: FAILED_PATHS,
      });
      const paths = [...isolated, ...failed];
      const failedSet = new Set(failed);

      service = await ServiceProcess.start({
        env: {
          REDIS_CLUSTER_NODES: cluster.nodes.join(","),
          REDIS_KEY_PREFIX: prefix,
          ADMIN_API_KEY: ADMIN_KEY,
          // One key sends every request: the per-key limit is not what this test is about.
          RATE_LIMIT_PER_MINUTE: "10000000",
        },
      });
      const get = (path: string) => fetch(`${service!.url}${path}`, { headers: auth });
      for (const path of paths) {
        await vi.waitFor(async () => expect((await get(path)).headers.get("x-cache")).toBe("HIT"), {
          timeout: 10_000,
          interval: 20,
        });
      }

      const answers: LoadAnswer[] = [];
      const load = startLoad({
        baseUrl: service.url,
        concurrency: 8,
        next: (i) => ({ path: paths[i % paths.length]!, headers: auth }),
        onAnswer: (answer) => answers.push(answer),
        timeoutMs: 10_000,
      });
      let promotedAt = Number.NaN;
      let recoveredAt = Number.NaN;
      let faultAt = Number.NaN;
      /** The end of the measured stretch before the fault (the test's own reads before the fault come after it). */
      let beforeEnd = Number.NaN;
      let queries = Number.NaN;
      /** The service's tag-version reads just before the fault and at the promotion. */
      const versionReads: { at: number; reads: number }[] = [];
      const readiness: { code: number; redis: string }[] = [];
      /** The service's CPU time at the start and the end of the measured stretch, at the fault, at recovery. */
      const cpuAt: { at: number; ms: number }[] = [];
      const sampleCpu = () => cpuAt.push({ at: performance.now(), ms: cpuMs(service!.child.pid!) });
      try {
        // Warm-up (a just-started process runs slower for seconds: JIT, start-up tasks), then the measured stretch.
        await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
        sampleCpu();
        await new Promise((resolve) => setTimeout(resolve, BEFORE_WINDOW_MS));
        sampleCpu();
        beforeEnd = performance.now();
        // These reads (the replica's id, PostgreSQL's counter, the service's /metrics) cost the service and the load
        // generator CPU: they stand between the two measured stretches, in neither.
        const replica = await cluster.replicaOf(victim);
        const queriesBefore = await transactions();
        versionReads.push(await tagVersionReads(service));
        if (fault === "SIGKILL") await cluster.killMaster(victim);
        else await cluster.freezeMaster(victim);
        faultAt = performance.now();
        sampleCpu();
        const promoted = cluster.waitForPromotion(replica);
        promoted.catch(() => undefined);
        if (fault === "SIGSTOP") {
          // The readiness answer with a master frozen: the same twice in a row, that master down, the others up.
          for (let i = 0; i < 2; i += 1) {
            const res = await get("/health/ready");
            const body = (await res.json()) as {
              checks: { redis: { status: string; masters?: { slots: string; status: string }[] } };
            };
            readiness.push({
              code: res.status,
              redis: `${body.checks.redis.status} ${body.checks.redis.masters?.map((m) => `${m.slots}=${m.status}`).join(",")}`,
            });
          }
        }
        promotedAt = await promoted;
        versionReads.push(await tagVersionReads(service));
        // Hits are back on every failed request once each answered HIT after the promotion.
        await vi.waitFor(
          () => {
            const hit = new Set(
              answers.filter((a) => a.sentAt > promotedAt && a.headers["x-cache"] === "HIT").map((a) => a.request.path),
            );
            expect(failed.filter((path) => !hit.has(path))).toEqual([]);
          },
          { timeout: 15_000, interval: 20 },
        );
        recoveredAt = performance.now();
        sampleCpu();
        queries = (await transactions()) - queriesBefore;
      } finally {
        await load.stop();
      }

      const inWindow = (from: number, to: number, which: (path: string) => boolean) =>
        answers.filter((a) => a.sentAt >= from && a.endedAt <= to && which(a.request.path));
      const rate = (from: number, to: number) => inWindow(from, to, () => true).length / ((to - from) / 1_000);
      const before = rate(beforeEnd - BEFORE_WINDOW_MS, beforeEnd);
      const during = rate(faultAt, recoveredAt);
      // Answers per CPU-second of the service: what the fault costs the service itself, whatever CPU the shared
      // machine left it (its raw rate over a few seconds swings up to 3x between windows at load average 10-15).
      const perCpuSecond = (from: number, to: number, cpu: number) =>
        inWindow(from, to, () => true).length / (cpu / 1_000);
      const efficiencyBefore = perCpuSecond(cpuAt[0]!.at, cpuAt[1]!.at, cpuAt[1]!.ms - cpuAt[0]!.ms);
      const efficiencyDuring = perCpuSecond(cpuAt[2]!.at, cpuAt[3]!.at, cpuAt[3]!.ms - cpuAt[2]!.ms);
      const others = inWindow(faultAt, recoveredAt, (path) => !failedSet.has(path));
      const othersBeforeStall = others.filter((a) => a.endedAt < promotedAt - STALL_MARGIN_MS);
      const failedDuring = inWindow(faultAt, promotedAt, (path) => failedSet.has(path));
      // The mechanism, free of the machine's noise: until the promotion, a live master's request does not read its
      // tags' versions each time (rule 6 of docs/cache.md; 1 or more per request without it). Every read Redis
      // answered the service is counted, those of requests for the victim's slots whose tags live elsewhere too (an
      // upper bound), per live-master request answered between the two readings of the counter.
      const [atFault, atPromotion] = versionReads as [{ at: number; reads: number }, { at: number; reads: number }];
      const othersUntilPromotion = inWindow(atFault.at, atPromotion.at, (path) => !failedSet.has(path));
      const tagReadsPerCall = (atPromotion.reads - atFault.reads) / othersUntilPromotion.length;
      const firstHit = (path: string) =>
        answers.find((a) => a.sentAt > promotedAt && a.request.path === path && a.headers["x-cache"] === "HIT")!
          .endedAt;
      const resumedMs = Math.max(...failed.map(firstHit)) - promotedAt;
      const all = answers.filter((a) => a.sentAt >= beforeEnd - BEFORE_WINDOW_MS);
      const figures = {
        busKeysOnVictim: placed.onVictim,
        paths: { isolated: isolated.length, failed: failed.length },
        before: {
          perSecond: Math.round(before),
          outcomes: count(inWindow(beforeEnd - BEFORE_WINDOW_MS, beforeEnd, () => true)),
        },
        fault: {
          perSecond: Math.round(during),
          ratio: Math.round((during / before) * 100) / 100,
          perCpuSecond: {
            before: Math.round(efficiencyBefore),
            during: Math.round(efficiencyDuring),
            ratio: Math.round((efficiencyDuring / efficiencyBefore) * 100) / 100,
          },
          otherMasters: count(others),
          failedSlotsUntilPromotion: count(failedDuring),
          postgresTransactions: queries,
          p99Ms: Math.round(
            [...all.map((a) => a.endedAt - a.sentAt)].sort((a, b) => a - b)[Math.floor(all.length * 0.99)] ?? 0,
          ),
          maxMs: Math.round(Math.max(...all.map((a) => a.endedAt - a.sentAt))),
        },
        tagVersionReadsPerLiveMasterCall: Math.round(tagReadsPerCall * 1_000) / 1_000,
        // Answers per 250 ms from 1 s before the fault to the recovery: where a low ratio comes from.
        per250Ms: Array.from({ length: Math.ceil((recoveredAt - faultAt + 1_000) / 250) }, (_, i) => {
          const from = faultAt - 1_000 + i * 250;
          return answers.filter((a) => a.endedAt >= from && a.endedAt < from + 250).length;
        }),
        promotedMs: Math.round(promotedAt - faultAt),
        hitsBackAfterPromotionMs: Math.round(resumedMs),
        readiness,
      };
      console.log(`[cluster ${placement} ${fault}] ${JSON.stringify(figures)}`);

      expect(answers.filter((a) => a.status >= 500)).toEqual([]);
      // Other masters' requests keep hitting: the dead master's breaker never refuses them. What is allowed, as in the
      // integration test: a command to a live master that outlives the 250 ms timeout on a loaded machine (served from
      // L1 as STALE), at most 0.5% before the promotion; around it a live master may stall while it records the new
      // configuration (at most 2% in all).
      expect(othersBeforeStall.filter((a) => !["HIT", "STALE"].includes(String(a.headers["x-cache"])))).toEqual([]);
      expect(othersBeforeStall.filter((a) => a.headers["x-cache"] !== "HIT").length).toBeLessThanOrEqual(
        Math.ceil(othersBeforeStall.length * 0.005),
      );
      expect(others.filter((a) => a.headers["x-cache"] !== "HIT").length).toBeLessThanOrEqual(
        Math.ceil(others.length * 0.02),
      );
      // The failed slots are answered from this process's L1 copies (HIT while the tag map is still trusted, then STALE
      // with X-Cache-Stale-Reason redis-unavailable) or by the loader (BYPASS); no request is held up for long.
      expect(failedDuring.filter((a) => !["HIT", "STALE", "BYPASS"].includes(String(a.headers["x-cache"])))).toEqual(
        [],
      );
      expect(Math.max(...all.map((a) => a.endedAt - a.sentAt))).toBeLessThan(MAX_WAIT_MS);
      expect(resumedMs).toBeLessThan(RESUME_AFTER_PROMOTION_MS);
      // Issue 14: at least half the rate before the fault. What used to take runs under it (0.45-0.47x in 3 of 54
      // cases): for 250-500 ms after the fault next to nothing was answered, every closed-loop client waiting on the
      // dead master until 5 command timeouts opened its breaker (first the rate limiter's, then the cache's). A
      // silent master is now judged in about 125 ms (a tick after a call once it refuses connections), and both
      // share one breaker (docs/cache-resilience.md, "Failure isolation per master"): 0.58-0.96x raw in 24 cases
      // since with a 2 s node timeout, median about 0.77x; with this test's 5 s, 0.57-1.33x in the 16 cases since the final
      // review, two CI runs included (docs/reliability.md). Per CPU-second of the service, a floor: its CPU time
      // swings with the machine as its rate does.
      expect(during).toBeGreaterThanOrEqual(before * 0.5);
      expect(efficiencyDuring).toBeGreaterThanOrEqual(efficiencyBefore * 0.4);
      expect(othersUntilPromotion.length).toBeGreaterThan(0);
      // Without rule 6's vouching each live-master request reads one version per tag (2.9 per request measured with
      // one registry in the "bus+registry" placement); with it, 0.25-0.65 per request were measured, the failed
      // slots' own reads included (see above), so the bound sits between the two, clear of both.
      expect(tagReadsPerCall).toBeLessThan(1);
      // Bounded: at most a few queries per distinct analytic, not one per request.
      expect(queries).toBeLessThan(paths.length * 4);
      if (fault === "SIGSTOP") {
        expect(readiness).toHaveLength(2);
        expect(readiness[1]).toEqual(readiness[0]);
        expect(readiness[0]!.redis).toMatch(/^degraded /);
        expect(readiness[0]!.redis.match(/=down/g)).toHaveLength(1);
      }
    });
  },
);
