import { performance } from "node:perf_hooks";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { REDACTED_PATHS } from "../../../backend/src/logging/logger.ts";
import { randomSnowflake, TEST_DATABASE_URL, uniquePrefix } from "../../support/test-env.ts";
import { TcpProxy } from "../../support/tcp-proxy.ts";
import { startAuthInstance, type AuthInstance } from "./auth-instance.ts";
import { blackHole } from "../../support/black-hole-server.ts";

const LOOKUP_TIMEOUT_MS = 400;
const LOOKUP_CACHE_TTL_MS = 10_000;
const GRACE_MS = 5 * 60_000;
// What "within a bound" means on a shared 2-core machine: the lookup timeout plus generous scheduling slack.
const BOUND_MS = LOOKUP_TIMEOUT_MS + 1_000;

/** A logger configured as the service's (same redaction) whose JSON lines are kept, to assert what was logged. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: pino({ level: "debug", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, sink) };
}

/** Runs a request and returns its response and how long it took. */
async function timed<T>(work: () => PromiseLike<T>): Promise<{ res: T; ms: number }> {
  const started = performance.now();
  const res = await work();
  return { res, ms: performance.now() - started };
}

describe("API keys while PostgreSQL is down (stale-if-error; PostgreSQL cut by a real TCP proxy)", () => {
  const keyPrefix = uniquePrefix("auth-out");
  const { logger, lines } = capturingLogger();
  let proxy: TcpProxy;
  // A: writes keys straight to PostgreSQL (the CLI's side). B and C reach PostgreSQL only through the proxy.
  let a: AuthInstance;
  let b: AuthInstance;
  let c: AuthInstance;
  // B's and C's key-service clocks; a test moves them past the 10 s lookup cache instead of waiting.
  let skewMs = 0;
  const skewedNow = () => Date.now() + skewMs;
  const secrets: string[] = [];

  beforeAll(async () => {
    proxy = await TcpProxy.start("127.0.0.1", Number(new URL(TEST_DATABASE_URL).port || 5432));
    a = await startAuthInstance({ databaseUrl: TEST_DATABASE_URL, keyPrefix });
    const viaProxy = {
      databaseUrl: proxy.rewrite(TEST_DATABASE_URL),
      keyPrefix,
      now: skewedNow,
      lookupTimeoutMs: LOOKUP_TIMEOUT_MS,
    };
    b = await startAuthInstance({ ...viaProxy, staleIfErrorMs: GRACE_MS, logger });
    c = await startAuthInstance({ ...viaProxy, staleIfErrorMs: 0 });
  });
  afterAll(async () => {
    await proxy?.restore();
    await a?.close();
    await b?.close();
    await c?.close();
    await proxy?.cut();
  });

  async function createKey(name: string, guildIds: string[]) {
    const { record, secret } = await a.keys.createKey({ name, guildIds });
    secrets.push(secret);
    return { id: record.id, secret };
  }

  /** Moves the key services' clocks past the lookup cache, so the next use of each key must ask PostgreSQL. */
  const pastLookupCache = () => void (skewMs += LOOKUP_CACHE_TTL_MS + 1);

  it("PostgreSQL cut: a recently verified key still reads a cached analytic, unknown keys get 503, a revoked key stays refused", async ({
    annotate,
  }) => {
    const guildId = randomSnowflake();
    const verified = await createKey("verified", [guildId]);
    const toRevoke = await createKey("revoked", [guildId]);
    const neverSeen = await createKey("never seen by B", [guildId]);
    const first = await b.getAnalytic(guildId, verified.secret).expect(200);
    expect(first.headers["x-cache"]).toBe("MISS");
    await b.getAnalytic(guildId, verified.secret).expect(200).expect("x-cache", "HIT");
    await b.getAnalytic(guildId, toRevoke.secret).expect(200);
    const applied = b.nextRevocation(toRevoke.id);
    await a.keys.revokeKey(toRevoke.id);
    await applied;

    await proxy.cut();
    try {
      pastLookupCache();
      const stale = await timed(() => b.getAnalytic(guildId, verified.secret));
      expect(stale.res.status).toBe(200);
      expect(stale.res.headers["x-cache"]).toBe("HIT");
      expect(stale.res.body).toEqual(first.body);
      expect(stale.ms).toBeLessThan(BOUND_MS);
      await annotate(`PostgreSQL cut: stale-if-error HIT in ${stale.ms.toFixed(1)} ms`);
      // Its last known scope still applies: another guild is still forbidden.
      await b.getAnalytic(randomSnowflake(), verified.secret).expect(403);

      const revoked = await b.getAnalytic(guildId, toRevoke.secret).expect(401);
      expect(revoked.body.error.code).toBe("E_UNAUTHORIZED");

      for (const secret of [neverSeen.secret, `sw_${"Q".repeat(43)}`]) {
        const unknown = await timed(() => b.getAnalytic(guildId, secret));
        expect(unknown.res.status).toBe(503);
        expect(unknown.res.body.error).toMatchObject({
          code: "E_DEPENDENCY_UNAVAILABLE",
          details: { dependency: "postgres" },
        });
        expect(unknown.ms).toBeLessThan(BOUND_MS);
        await annotate(`PostgreSQL cut: 503 for a key B cannot vouch for in ${unknown.ms.toFixed(1)} ms`);
      }

      const warnings = lines.filter((line) => line.level === 40 && String(line.msg).includes("stale-if-error"));
      expect(warnings).toEqual([expect.objectContaining({ keyId: verified.id })]);
      const logged = JSON.stringify(lines);
      for (const secret of secrets) expect(logged).not.toContain(secret.slice(3));

      // Past the grace the key is no longer vouched for: 503, not 401 (the database might still know it).
      skewMs += GRACE_MS;
      await b.getAnalytic(guildId, verified.secret).expect(503);
    } finally {
      await proxy.restore();
    }
    await vi.waitFor(() => b.getAnalytic(guildId, verified.secret).expect(200), { timeout: 10_000, interval: 100 });
    await b.getAnalytic(guildId, toRevoke.secret).expect(401);
  });

  it("PostgreSQL hung (accepts, never answers): each check is bounded by the lookup timeout, stale keys are served", async ({
    annotate,
  }) => {
    const guildId = randomSnowflake();
    const verified = await createKey("verified before the hang", [guildId]);
    await b.getAnalytic(guildId, verified.secret).expect(200);
    await b.getAnalytic(guildId, verified.secret).expect(200).expect("x-cache", "HIT");

    await proxy.cut();
    const hung = await blackHole(proxy.port);
    try {
      pastLookupCache();
      const unknown = await timed(() => b.getAnalytic(guildId, `sw_${"H".repeat(43)}`));
      expect(unknown.res.status).toBe(503);
      expect(unknown.ms).toBeGreaterThanOrEqual(LOOKUP_TIMEOUT_MS - 5);
      expect(unknown.ms).toBeLessThan(BOUND_MS);
      // Right after that failure, the verified key skips the hung database altogether (failure back-off).
      const stale = await timed(() => b.getAnalytic(guildId, verified.secret));
      expect(stale.res.status).toBe(200);
      expect(stale.res.headers["x-cache"]).toBe("HIT");
      expect(stale.ms).toBeLessThan(LOOKUP_TIMEOUT_MS);
      await annotate(
        `PostgreSQL hung, lookup timeout ${LOOKUP_TIMEOUT_MS} ms: 503 in ${unknown.ms.toFixed(0)} ms, then stale HIT in ${stale.ms.toFixed(1)} ms`,
      );
    } finally {
      await hung.close();
      await proxy.restore();
    }
    await vi.waitFor(() => b.getAnalytic(guildId, verified.secret).expect(200), { timeout: 10_000, interval: 100 });
  });

  it("grace 0 (AUTH_STALE_IF_ERROR_MS=0): once the lookup cache has passed, every key gets 503 while PostgreSQL is down", async () => {
    const guildId = randomSnowflake();
    const verified = await createKey("verified, no grace", [guildId]);
    await c.getAnalytic(guildId, verified.secret).expect(200);
    await proxy.cut();
    try {
      pastLookupCache();
      const res = await timed(() => c.getAnalytic(guildId, verified.secret));
      expect(res.res.status).toBe(503);
      expect(res.res.body.error.code).toBe("E_DEPENDENCY_UNAVAILABLE");
      expect(res.ms).toBeLessThan(BOUND_MS);
    } finally {
      await proxy.restore();
    }
    await vi.waitFor(() => c.getAnalytic(guildId, verified.secret).expect(200), { timeout: 10_000, interval: 100 });
  });
});
