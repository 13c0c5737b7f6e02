import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type RunningService } from "../../../../backend/src/service.ts";
import { randomSnowflake, testConfig, testLogger, uniquePrefix } from "../../../support/test-env.ts";

// Parts of docs/auth.md checked over HTTP on the real service and real Redis: the Secure cookie behind a TLS proxy,
// an expired session, the clean-up of its index entries, and the session gauges of /metrics.
const METRICS_TOKEN = "metrics-token-for-sessions";
const prefix = uniquePrefix("sess-http");
const guildId = randomSnowflake();
let service: RunningService;
let base: string;

beforeAll(async () => {
  service = await startService(
    testConfig({ REDIS_KEY_PREFIX: prefix, TRUST_PROXY: "true", SESSION_SWEEP_INTERVAL: "1s", METRICS_TOKEN }),
    testLogger(),
  );
  base = `http://127.0.0.1:${service.port}`;
});

afterAll(async () => {
  await service?.stop();
});

/** Exchanges a fresh key (admin or scoped to `guildId`) for a session; `headers` are added to the exchange. */
async function exchange(admin: boolean, headers: Record<string, string> = {}) {
  const { record, secret } = await service.apiKeys.createKey(
    admin ? { name: "admin dash", admin: true } : { name: "dash", guildIds: [guildId] },
  );
  const res = await fetch(`${base}/api/sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, ...headers },
  });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { token: string; session: { id: string } };
  return { keyId: record.id, key: secret, token: body.token, id: body.session.id, cookies: res.headers.getSetCookie() };
}

describe("session cookies, expiry and counts over HTTP", () => {
  it("cookies are Secure when the request came over HTTPS (X-Forwarded-Proto under TRUST_PROXY), not over plain HTTP", async () => {
    const overTls = await exchange(false, { "x-forwarded-proto": "https" });
    const session = overTls.cookies.find((cookie) => cookie.startsWith("spywatcher_session="))!;
    const csrf = overTls.cookies.find((cookie) => cookie.startsWith("spywatcher_csrf="))!;
    expect(session).toMatch(/; Secure/);
    expect(session).toMatch(/; HttpOnly/);
    expect(session).toMatch(/; SameSite=Lax/);
    expect(csrf).toMatch(/; Secure/);
    expect(csrf).not.toMatch(/HttpOnly/);
    const plain = await exchange(false);
    expect(plain.cookies.length).toBe(2);
    for (const cookie of plain.cookies) expect(cookie).not.toMatch(/Secure/);
  });

  it("GET /api/sessions shows each session's user, scope, times (24 h sliding, 7 d absolute), address and user agent, never the token", async () => {
    const opened = await exchange(false, { "x-forwarded-for": "10.88.0.7", "user-agent": "dashboard-backend/1.0" });
    const res = await fetch(`${base}/api/sessions`, { headers: { authorization: `Bearer ${opened.token}` } });
    const text = await res.text();
    expect(text).not.toContain(opened.token);
    const [session] = (JSON.parse(text) as { sessions: Record<string, unknown>[] }).sessions;
    expect(session).toMatchObject({
      id: opened.id,
      kind: "api-key",
      userId: `key:${opened.keyId}`,
      userName: "dash",
      scope: "guild",
      guildIds: [guildId],
      clientIp: "10.88.0.7",
      userAgent: "dashboard-backend/1.0",
      current: true,
    });
    expect(opened.id).toMatch(/^[0-9a-f]{64}$/);
    const created = Date.parse(session!.createdAt as string);
    expect(Math.abs(created - Date.now())).toBeLessThan(60_000);
    expect(Date.parse(session!.expiresAt as string) - Date.parse(session!.lastActivityAt as string)).toBe(
      24 * 3_600_000,
    );
    expect(Date.parse(session!.maxExpiresAt as string) - created).toBe(7 * 24 * 3_600_000);
  });

  it("an expired session answers 401 E_UNAUTHORIZED, and listing the user's sessions removes its index entries", async () => {
    const live = await exchange(false);
    // The second session of the same key's user, then expired the way Redis ends it: its record's TTL runs out.
    const res = await fetch(`${base}/api/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${live.key}` },
    });
    const expired = (await res.json()) as { token: string; session: { id: string } };
    const userKey = `${prefix}:session-user:key:${live.keyId}`;
    expect(await service.redis.client.zcard(userKey)).toBe(2);
    await service.redis.client.pexpire(`${prefix}:session:${expired.session.id}`, 1);
    await expect.poll(() => service.redis.client.exists(`${prefix}:session:${expired.session.id}`)).toBe(0);

    const refused = await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${expired.token}` } });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({
      error: { code: "E_UNAUTHORIZED", message: "The session is unknown, expired or revoked: sign in again" },
    });
    const list = (await (
      await fetch(`${base}/api/sessions`, { headers: { authorization: `Bearer ${live.token}` } })
    ).json()) as { sessions: { id: string }[] };
    expect(list.sessions.map((session) => session.id)).toEqual([live.id]);
    expect(await service.redis.client.zrange(userKey, "0", "-1")).toEqual([live.id]);
    expect(
      await service.redis.client.zscore(`${prefix}:sessions-active:guild`, `${expired.session.id}|key:${live.keyId}`),
    ).toBeNull();
  });

  it("/metrics shows the fleet's live sessions by scope and the users holding them (as of the last sweep)", async () => {
    const counts = await service.signInSide.sessions.counts();
    await exchange(true);
    const gauges = async () => {
      const text = await (
        await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
      ).text();
      const value = (name: string) =>
        Number(new RegExp(`^${name.replace(/[{}]/g, "\\$&")} (\\d+)$`, "m").exec(text)?.[1]);
      return {
        admin: value('spywatcher_sessions_active{scope="admin"}'),
        guild: value('spywatcher_sessions_active{scope="guild"}'),
        users: value("spywatcher_session_users"),
      };
    };
    await expect
      .poll(gauges, { timeout: 10_000, interval: 250 })
      .toEqual({ admin: counts.byScope.admin + 1, guild: counts.byScope.guild, users: counts.users + 1 });
  });
});
