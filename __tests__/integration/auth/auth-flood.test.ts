import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { randomSnowflake, TEST_DATABASE_URL, uniquePrefix } from "../../support/test-env.ts";
import { TcpProxy } from "../../support/tcp-proxy.ts";
import { startAuthInstance, type AuthInstance } from "./auth-instance.ts";
import { blackHole } from "../../support/black-hole-server.ts";

const LOOKUP_TIMEOUT_MS = 600;

/** A well-formed key nobody issued: what a flood sends. */
const randomKey = () => `sw_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url")}`;

describe("API keys under a flood of wrong keys (real PostgreSQL behind a TCP proxy, real Redis)", () => {
  const keyPrefix = uniquePrefix("auth-flood");
  let proxy: TcpProxy;
  // A writes keys straight to PostgreSQL (the CLI's side); the others reach PostgreSQL only through the proxy.
  let a: AuthInstance;
  let limited: AuthInstance;
  let direct: AuthInstance;
  let bounded: AuthInstance;
  let smallCache: AuthInstance;

  beforeAll(async () => {
    proxy = await TcpProxy.start("127.0.0.1", Number(new URL(TEST_DATABASE_URL).port || 5432));
    const viaProxy = { databaseUrl: proxy.rewrite(TEST_DATABASE_URL), keyPrefix, lookupTimeoutMs: LOOKUP_TIMEOUT_MS };
    a = await startAuthInstance({ databaseUrl: TEST_DATABASE_URL, keyPrefix });
    limited = await startAuthInstance({ ...viaProxy, trustProxy: true, service: { failedAuthPerMinute: 5 } });
    direct = await startAuthInstance({
      databaseUrl: TEST_DATABASE_URL,
      keyPrefix,
      service: { failedAuthPerMinute: 3 },
    });
    bounded = await startAuthInstance({ ...viaProxy, trustProxy: true, service: { maxNewKeyLookups: 2 } });
    smallCache = await startAuthInstance({ ...viaProxy, trustProxy: true, service: { lookupCacheMax: 5 } });
  });
  afterAll(async () => {
    await proxy?.restore();
    for (const instance of [a, limited, direct, bounded, smallCache]) await instance?.close();
    await proxy?.cut();
  });

  /** GET an analytic with `key`, as if from `ip` (X-Forwarded-For; honoured only with trust proxy). */
  const from = (instance: AuthInstance, ip: string, guildId: string, key: string) =>
    instance.getAnalytic(guildId, key).set("x-forwarded-for", ip);

  it("past AUTH_FAILURES_PER_MINUTE failed keys from one client address: 429 with Retry-After, PostgreSQL not asked", async ({
    annotate,
  }) => {
    const guildId = randomSnowflake();
    const { secret: good } = await a.keys.createKey({ name: "good", guildIds: [guildId] });
    await from(limited, "10.0.0.1", guildId, good).expect(200);
    for (let i = 0; i < 5; i += 1) await from(limited, "10.0.0.1", guildId, randomKey()).expect(401);

    const refused = await from(limited, "10.0.0.1", guildId, randomKey()).expect(429);
    expect(refused.body.error.code).toBe("E_RATE_LIMITED");
    const retryAfter = Number(refused.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // A request without a key is not an authentication attempt: plain 401.
    await from(limited, "10.0.0.1", guildId, "").expect(401);

    await proxy.cut();
    try {
      // PostgreSQL is gone: a key that needed it would get 503, so a 429 shows it was refused before any lookup.
      const started = performance.now();
      await from(limited, "10.0.0.1", guildId, randomKey()).expect(429);
      await annotate(`429 for a limited address in ${(performance.now() - started).toFixed(1)} ms, PostgreSQL cut`);
      // A key this instance has verified still works from the limited address (it costs no new lookup).
      await from(limited, "10.0.0.1", guildId, good).expect(200);
      // The limit is per client address: another one still reaches the lookup (which fails: 503).
      await from(limited, "10.0.0.2", guildId, randomKey()).expect(503);
    } finally {
      await proxy.restore();
    }
  });

  it("without TRUST_PROXY the client address is the socket's: X-Forwarded-For cannot dodge the limit", async () => {
    const guildId = randomSnowflake();
    for (let i = 0; i < 3; i += 1) await from(direct, `10.1.0.${i}`, guildId, randomKey()).expect(401);
    const refused = await from(direct, "10.1.0.99", guildId, randomKey()).expect(429);
    expect(refused.body.error.code).toBe("E_RATE_LIMITED");
  });

  it("lookups of keys never verified here are bounded (maxNewKeyLookups): past it, 503 at once instead of queueing on the pool", async ({
    annotate,
  }) => {
    const guildId = randomSnowflake();
    const { secret: good } = await a.keys.createKey({ name: "good, bounded", guildIds: [guildId] });
    await from(bounded, "10.2.0.1", guildId, good).expect(200);

    await proxy.cut();
    const hung = await blackHole(proxy.port);
    try {
      const first = [1, 2].map((n) => from(bounded, `10.2.1.${n}`, guildId, randomKey()).then((res) => res));
      await vi.waitFor(() => expect(bounded.keys.newKeyLookupsInFlight()).toBe(2), { timeout: 5_000, interval: 5 });
      const started = performance.now();
      const third = await from(bounded, "10.2.1.3", guildId, randomKey());
      const ms = performance.now() - started;
      expect(third.status).toBe(503);
      expect(third.body.error).toMatchObject({ code: "E_DEPENDENCY_UNAVAILABLE", details: { dependency: "postgres" } });
      expect(ms).toBeLessThan(LOOKUP_TIMEOUT_MS / 2);
      await annotate(
        `bound of 2 new-key lookups full: 503 in ${ms.toFixed(1)} ms (lookup timeout ${LOOKUP_TIMEOUT_MS} ms)`,
      );
      // A key verified here is not held back by the bound.
      await from(bounded, "10.2.0.1", guildId, good).expect(200);
      for (const res of await Promise.all(first)) expect(res.status).toBe(503);
      expect(bounded.keys.newKeyLookupsInFlight()).toBe(0);
    } finally {
      await hung.close();
      await proxy.restore();
    }
  });

  it("a revoked key stays refused (401) during an outage even after a flood of unknown keys filled the lookup cache", async () => {
    const guildId = randomSnowflake();
    const { record, secret } = await a.keys.createKey({ name: "revoked, then flooded", guildIds: [guildId] });
    await from(smallCache, "10.3.0.1", guildId, secret).expect(200);
    const applied = smallCache.nextRevocation(record.id);
    await a.keys.revokeKey(record.id);
    await applied;
    await from(smallCache, "10.3.0.1", guildId, secret).expect(401);
    // Ten times the cache's bound of unknown keys, from many addresses (the per-address limit is not what is tested).
    for (let i = 0; i < 50; i += 1) await from(smallCache, `10.3.1.${i}`, guildId, randomKey()).expect(401);

    await proxy.cut();
    try {
      const res = await from(smallCache, "10.3.0.1", guildId, secret);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("E_UNAUTHORIZED");
    } finally {
      await proxy.restore();
    }
  });
});
