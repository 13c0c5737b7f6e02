import { once } from "node:events";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SessionService } from "../../../../backend/src/auth/sessions/session-service.ts";
import { SessionStore } from "../../../../backend/src/auth/sessions/session-store.ts";
import { TokenCipher } from "../../../../backend/src/auth/sessions/token-cipher.ts";
import { ThrowawayRedis } from "../../../support/redis-server.ts";
import { TEST_REDIS_URL, testLogger, uniquePrefix } from "../../../support/test-env.ts";

const HOUR = 3_600_000;
let redis: Redis;

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL, { lazyConnect: false });
});
afterAll(async () => {
  await redis.quit();
});

/** A session service on real Redis with a clock the test moves (Redis TTLs are checked against real time separately). */
function serviceAt(
  client: Redis,
  clock: { now: number },
  overrides: Partial<ConstructorParameters<typeof SessionService>[0]> = {},
) {
  const prefix = uniquePrefix("sess");
  const store = new SessionStore(client, prefix, overrides.ttlMs ?? 24 * HOUR);
  const service = new SessionService({
    store,
    logger: testLogger(),
    ttlMs: 24 * HOUR,
    maxAgeMs: 7 * 24 * HOUR,
    scopeRefreshIntervalMs: 10 * 60_000,
    staleIfErrorMs: 5 * 60_000,
    scopeSources: {},
    now: () => clock.now,
    ...overrides,
  });
  return { service, store, prefix };
}

const input = (userId: string) => ({
  kind: "discord" as const,
  userId,
  userName: "u",
  scope: { scope: "guild" as const, guildIds: ["1"] },
  clientIp: "127.0.0.1",
  userAgent: "test",
});

describe("sessions in Redis", () => {
  it("stores only the hashed id, with a TTL, and never the token", async () => {
    const clock = { now: Date.now() };
    const { service, prefix } = serviceAt(redis, clock);
    const opened = await service.open(input("111"));
    const keys = await redis.keys(`${prefix}:session:*`);
    expect(keys).toEqual([`${prefix}:session:${opened.session.id}`]);
    expect(await redis.get(keys[0]!)).not.toContain(opened.token);
    const ttl = await redis.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(23 * HOUR);
    expect(ttl).toBeLessThanOrEqual(24 * HOUR);
  });

  it("slides with activity (written at most once a minute) and ends at the absolute max age", async () => {
    const clock = { now: Date.now() };
    const { service, prefix } = serviceAt(redis, clock);
    const opened = await service.open(input("222"));
    const key = `${prefix}:session:${opened.session.id}`;
    const writes = async () => JSON.parse((await redis.get(key))!).lastActivityAt as number;
    clock.now += 30_000;
    await service.authenticate(opened.token);
    await service.whenIdle();
    expect(await writes()).toBe(clock.now - 30_000);
    clock.now += 31_000;
    await service.authenticate(opened.token);
    await service.whenIdle();
    expect(await writes()).toBe(clock.now);
    // Idle longer than the sliding TTL: gone even though the key (real time) still exists.
    clock.now += 24 * HOUR + 1;
    expect(await service.authenticate(opened.token)).toBeUndefined();
    // Active every 20 hours: still ends 7 days after sign-in.
    const fresh = await service.open(input("222"));
    for (let hours = 20; hours < 7 * 24; hours += 20) {
      clock.now += 20 * HOUR;
      expect(await service.authenticate(fresh.token)).toBeDefined();
      await service.whenIdle();
    }
    clock.now += 20 * HOUR;
    expect(await service.authenticate(fresh.token)).toBeUndefined();
  });

  it("keeps a per-user index, prunes entries of expired sessions, and counts by scope", async () => {
    const clock = { now: Date.now() };
    const { service, prefix } = serviceAt(redis, clock, { ttlMs: 1_000 });
    const a = await service.open(input("333"));
    await service.open(input("333"));
    await service.open({ ...input("444"), scope: { scope: "admin" } });
    expect(await service.counts()).toEqual({ active: 3, users: 2, byScope: { admin: 1, guild: 2 } });
    expect((await service.list("333", a.session.id)).map((s) => s.current).sort()).toEqual([false, true]);
    clock.now += 2_000;
    expect(await service.sweep()).toBe(3);
    expect(await redis.zcard(`${prefix}:session-user:333`)).toBe(0);
    expect(await service.counts()).toEqual({ active: 0, users: 0, byScope: { admin: 0, guild: 0 } });
  });

  it("the sweep's refresh reads scopes due now or within its look-ahead, and no others", async () => {
    const clock = { now: Date.now() };
    let reads = 0;
    const discord = {
      refresh: async () => {
        reads += 1;
        return { scope: "guild" as const, guildIds: ["1"] };
      },
    };
    const { service } = serviceAt(redis, clock, { scopeSources: { discord } });
    await service.open(input("556"));
    clock.now += 10 * 60_000 - 30_000;
    expect(await service.refreshDueScopes(1_000)).toBe(0);
    expect(await service.refreshDueScopes(1_000, 60_000)).toBe(1);
    expect(reads).toBe(1);
    // Just read: not due again for a whole interval.
    expect(await service.refreshDueScopes(1_000, 60_000)).toBe(0);
  });

  it("never brings a revoked session back through a late activity write", async () => {
    const clock = { now: Date.now() };
    const { service, prefix } = serviceAt(redis, clock);
    const opened = await service.open(input("555"));
    clock.now += 61_000;
    await service.authenticate(opened.token);
    await service.revokeUser("555");
    await service.whenIdle();
    expect(await redis.exists(`${prefix}:session:${opened.session.id}`)).toBe(0);
    expect(await service.authenticate(opened.token)).toBeUndefined();
  });

  it("seals Discord tokens: another secret or an altered value cannot open them", () => {
    const cipher = new TokenCipher("x".repeat(40));
    const sealed = cipher.encrypt("access-token-123");
    expect(sealed).not.toContain("access-token-123");
    expect(cipher.decrypt(sealed)).toBe("access-token-123");
    expect(new TokenCipher("y".repeat(40)).decrypt(sealed)).toBeUndefined();
    expect(cipher.decrypt(`${sealed.slice(0, -2)}AA`)).toBeUndefined();
  });
});

describe("sessions while Redis is down (docs/auth.md)", () => {
  let throwaway: ThrowawayRedis;
  let client: Redis;
  afterEach(async () => {
    client?.disconnect();
    await throwaway?.kill();
  });

  it("sign-in answers 503; a session verified here recently keeps working; others get 503, never 401", async () => {
    throwaway = await ThrowawayRedis.start();
    client = new Redis(throwaway.url, {
      enableOfflineQueue: false,
      commandTimeout: 250,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 50,
    });
    client.on("error", () => undefined);
    await once(client, "ready");
    const clock = { now: Date.now() };
    const { service } = serviceAt(client, clock);
    const verified = await service.open(input("666"));
    const other = await service.open(input("777"));
    expect(await service.authenticate(verified.token)).toMatchObject({ userId: "666" });
    await throwaway.kill();
    await expect(service.open(input("888"))).rejects.toMatchObject({ code: "E_DEPENDENCY_UNAVAILABLE", status: 503 });
    expect(await service.authenticate(verified.token)).toMatchObject({ userId: "666", scope: "guild" });
    await expect(service.authenticate(other.token)).rejects.toMatchObject({ status: 503 });
    // Past the stale-if-error horizon the remembered verification no longer counts.
    clock.now += 5 * 60_000 + 1;
    await expect(service.authenticate(verified.token)).rejects.toMatchObject({ status: 503 });
  });
});
