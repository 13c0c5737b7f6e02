import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type RunningService } from "../../../../backend/src/service.ts";
import {
  startFakeDiscord,
  type FakeDiscord,
} from "../../../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import { ThrowawayRedis } from "../../../support/redis-server.ts";
import { randomSnowflake, testConfig, testLogger, uniquePrefix } from "../../../support/test-env.ts";
import { browserClient } from "../../../support/browser-client.ts";

// Sign-in and sessions over HTTP while the service's own Redis is killed for real (docs/auth.md, "When Redis is
// down"): sign-in answers 503 at once, a session this instance verified keeps working (stale-if-error), any other
// session gets 503 (never 401), nothing hangs; when Redis is back, sign-in works again.
const guildA = randomSnowflake();
const moderator = { id: randomSnowflake(), username: "mod" };
/** Every answer during the outage comes within this bound (REDIS_COMMAND_TIMEOUT_MS is 1.5 s in tests). */
const BOUND_MS = 3_000;
let fake: FakeDiscord;
let redis: ThrowawayRedis;
let service: RunningService;
let base: string;

beforeAll(async () => {
  fake = await startFakeDiscord({
    guilds: [{ id: guildA, name: "A", channels: [], roles: [{ id: guildA, name: "@everyone" }], members: [] }],
    oauth: {
      clientId: "client-1",
      clientSecret: "secret-1",
      user: moderator,
      userGuilds: [{ id: guildA, name: "A", permissions: "32" }],
    },
  });
  redis = await ThrowawayRedis.start();
  service = await startService(
    testConfig({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: uniquePrefix("sess-outage"),
      DISCORD_TOKEN: "fake-bot-token",
      DISCORD_API_URL: fake.apiUrl,
      DISCORD_OAUTH_AUTHORIZE_URL: fake.authorizeUrl,
      DISCORD_CLIENT_ID: "client-1",
      DISCORD_CLIENT_SECRET: "secret-1",
      SESSION_SECRET: "s".repeat(40),
    }),
    testLogger(),
  );
  base = `http://127.0.0.1:${service.port}`;
});

afterAll(async () => {
  await service?.stop();
  await redis?.kill();
  await fake?.close();
});

/** A request and how long its answer took. */
async function timed(
  url: string,
  init?: RequestInit,
): Promise<{ res: Response; ms: number; code: string | undefined; body: Record<string, unknown> | undefined }> {
  const started = performance.now();
  const res = await fetch(url, init);
  const ms = performance.now() - started;
  const body = (await res.json().catch(() => undefined)) as
    | (Record<string, unknown> & { error?: { code: string } })
    | undefined;
  return { res, ms, code: body?.error?.code, body };
}

describe("sign-in and sessions with Redis killed", () => {
  it("sign-in 503 E_DEPENDENCY_UNAVAILABLE; the verified session keeps its scope; an unverified one gets 503; back after Redis returns", async ({
    annotate,
  }) => {
    const browser = browserClient();
    expect((await browser.fetch(`${base}/auth/discord/login`)).status).toBe(200);
    const verified = (await browser.cookie(base, "spywatcher_session"))!;
    expect((await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${verified}` } })).status).toBe(200);
    const { secret } = await service.apiKeys.createKey({ name: "outage", guildIds: [guildA] });
    const exchanged = await fetch(`${base}/api/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}` },
    });
    const unverified = ((await exchanged.json()) as { token: string }).token;
    // A callback URL whose state was stored before the outage.
    const halfway = browserClient();
    const login = await halfway.fetch(`${base}/auth/discord/login`, { redirect: "manual" });
    const callback = (await fetch(login.headers.get("location")!, { redirect: "manual" })).headers.get("location")!;

    await redis.kill();
    const loginDown = await timed(`${base}/auth/discord/login`, { redirect: "manual" });
    expect([loginDown.res.status, loginDown.code]).toEqual([503, "E_DEPENDENCY_UNAVAILABLE"]);
    const callbackDown = await halfway.fetch(callback, { redirect: "manual" });
    expect(callbackDown.status).toBe(503);
    expect(((await callbackDown.json()) as { error: { code: string } }).error.code).toBe("E_DEPENDENCY_UNAVAILABLE");
    const exchangeDown = await timed(`${base}/api/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}` },
    });
    expect([exchangeDown.res.status, exchangeDown.code]).toEqual([503, "E_DEPENDENCY_UNAVAILABLE"]);

    const stale = await timed(`${base}/auth/me`, { headers: { authorization: `Bearer ${verified}` } });
    expect(stale.res.status).toBe(200);
    expect(stale.body).toMatchObject({ userId: moderator.id, scope: "guild", guildIds: [guildA] });
    const analytic = await timed(`${base}/api/analytics/ghosts?guildId=${guildA}`, {
      headers: { authorization: `Bearer ${verified}` },
    });
    expect(analytic.res.status).toBe(200);
    const other = await timed(`${base}/auth/me`, { headers: { authorization: `Bearer ${unverified}` } });
    expect([other.res.status, other.code]).toEqual([503, "E_DEPENDENCY_UNAVAILABLE"]);
    const answers = { loginDown, exchangeDown, stale, analytic, other };
    for (const { ms } of Object.values(answers)) expect(ms).toBeLessThan(BOUND_MS);
    await annotate(
      Object.entries(answers)
        .map(([name, { ms }]) => `${name} ${ms.toFixed(0)} ms`)
        .join(", "),
    );

    await redis.resume();
    // The Redis server restarted empty (no persistence here): the sessions are gone (401), and signing in works again.
    const again = browserClient();
    await expect
      .poll(async () => (await again.fetch(`${base}/auth/discord/login`)).status, { timeout: 10_000, interval: 200 })
      .toBe(200);
    expect((await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${verified}` } })).status).toBe(401);
    expect(
      (
        await fetch(`${base}/auth/me`, {
          headers: { authorization: `Bearer ${(await again.cookie(base, "spywatcher_session"))!}` },
        })
      ).status,
    ).toBe(200);
  }, 30_000);
});
