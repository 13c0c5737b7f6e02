import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startService, type RunningService } from "../../../../backend/src/service.ts";
import {
  startFakeDiscord,
  type FakeDiscord,
} from "../../../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import type { FakeUserGuild } from "../../../../backend/src/simulation/fake-discord/fake-oauth.ts";
import { freePort } from "../../../support/redis-server.ts";
import { createLogger } from "../../../../backend/src/logging/logger.ts";
import { randomSnowflake, testConfig, testLogger, uniquePrefix } from "../../../support/test-env.ts";
import { UpdatePublisher } from "../../realtime/realtime-harness.ts";
import { TestSocket } from "../../../support/ws-test-client.ts";
import { browserClient } from "../../../support/browser-client.ts";

// Real Discord's shape without Discord: a fake Discord with OAuth2 and the bot in guilds A and B, and API-only
// service instances (DISCORD_ENABLED=false) configured like production (client id/secret, bot token).
const guildA = randomSnowflake();
const guildB = randomSnowflake();
const guildWithoutBot = randomSnowflake();
const moderator = { id: randomSnowflake(), username: "mod" };
const allGuilds: FakeUserGuild[] = [
  { id: guildA, name: "A", permissions: "32" },
  { id: guildB, name: "B", permissions: "8" },
  { id: guildWithoutBot, name: "no bot", permissions: "8" },
];
const TIMEOUT_MS = 600;
let fake: FakeDiscord;
let first: RunningService;
let second: RunningService;
const prefix = uniquePrefix("signin");
/** Every line the first instance logs, at debug level, through the service's own logger (with its redaction). */
const logLines: string[] = [];

function env(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    REDIS_KEY_PREFIX: prefix,
    DISCORD_TOKEN: "fake-bot-token",
    DISCORD_API_URL: fake.apiUrl,
    DISCORD_OAUTH_AUTHORIZE_URL: fake.authorizeUrl,
    DISCORD_CLIENT_ID: "client-1",
    DISCORD_CLIENT_SECRET: "secret-1",
    DISCORD_OAUTH_TIMEOUT_MS: String(TIMEOUT_MS),
    SESSION_SECRET: "s".repeat(40),
    SESSION_SCOPE_REFRESH_INTERVAL: "1s",
    // The sweep (one instance per round) is the scheduled refresh of idle sessions.
    SESSION_SWEEP_INTERVAL: "1s",
    // No heartbeat re-check during the tests: only the broadcasts can close a socket of another instance.
    WS_HEARTBEAT_INTERVAL_MS: "600000",
    ...overrides,
  };
}

beforeAll(async () => {
  fake = await startFakeDiscord({
    guilds: [guildA, guildB].map((id) => ({
      id,
      name: id,
      channels: [],
      roles: [{ id, name: "@everyone" }],
      members: [],
    })),
    oauth: { clientId: "client-1", clientSecret: "secret-1", user: moderator, userGuilds: allGuilds },
  });
  const capturing = createLogger({
    level: "debug",
    destination: { write: (line: string) => void logLines.push(line) },
  });
  [first, second] = await Promise.all([
    startService(testConfig(env()), capturing),
    startService(testConfig(env()), testLogger()),
  ]);
});

afterAll(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
  await fake?.close();
});

const base = (service: RunningService) => `http://127.0.0.1:${service.port}`;

async function errorOf(res: Response): Promise<{ code: string; details?: Record<string, unknown> }> {
  return ((await res.json()) as { error: { code: string; details?: Record<string, unknown> } }).error;
}

/** Follows the flow by hand up to the callback URL Discord sends the browser to. */
async function callbackUrl(service: RunningService) {
  const browser = browserClient();
  const login = await browser.fetch(`${base(service)}/auth/discord/login`, { redirect: "manual" });
  const atDiscord = await fetch(login.headers.get("location")!, { redirect: "manual" });
  return { browser, callback: new URL(atDiscord.headers.get("location")!) };
}

async function signIn(service: RunningService) {
  const browser = browserClient();
  const res = await browser.fetch(`${base(service)}/auth/discord/login`);
  expect(res.status).toBe(200);
  return {
    browser,
    token: (await browser.cookie(base(service), "spywatcher_session"))!,
    csrf: (await browser.cookie(base(service), "spywatcher_csrf"))!,
  };
}

describe("Log in with Discord against a Discord that says no, is slow or is gone", () => {
  it("grants the guilds with Manage Server or Administrator where the bot is, not the one without the bot", async () => {
    fake.oauth!.setUserGuilds(allGuilds);
    const { browser } = await signIn(first);
    const me = (await (await browser.fetch(`${base(first)}/auth/me`)).json()) as { guildIds: string[]; userId: string };
    expect(me.userId).toBe(moderator.id);
    expect(me.guildIds).toEqual([guildA, guildB].sort());
  });

  it("refuses a code Discord rejects: 400 E_OAUTH_REFUSED with Discord's error code", async () => {
    const { browser, callback } = await callbackUrl(first);
    callback.searchParams.set("code", "not-a-code-discord-issued");
    const res = await browser.fetch(callback.toString(), { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ code: "E_OAUTH_REFUSED", details: { discordError: "invalid_grant" } });
  });

  it("answers a user who declined at Discord with E_OAUTH_REFUSED", async () => {
    const { browser, callback } = await callbackUrl(first);
    callback.searchParams.delete("code");
    callback.searchParams.set("error", "access_denied");
    const res = await browser.fetch(callback.toString(), { redirect: "manual" });
    expect(await errorOf(res)).toMatchObject({ code: "E_OAUTH_REFUSED", details: { discordError: "access_denied" } });
  });

  it("refuses a user who moderates no guild with the bot: 403 E_NO_GUILD_ACCESS", async () => {
    fake.oauth!.setUserGuilds([
      { id: guildWithoutBot, name: "no bot", permissions: "8" },
      { id: guildA, name: "A", permissions: "0" },
    ]);
    try {
      const browser = browserClient();
      const res = await browser.fetch(`${base(first)}/auth/discord/login`);
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe("E_NO_GUILD_ACCESS");
    } finally {
      fake.oauth!.setUserGuilds(allGuilds);
    }
  });

  it("answers 503 E_DISCORD_UNAVAILABLE within the timeout when Discord is slow", async () => {
    const { browser, callback } = await callbackUrl(first);
    fake.oauth!.setDelay(TIMEOUT_MS * 5);
    try {
      const started = performance.now();
      const res = await browser.fetch(callback.toString(), { redirect: "manual" });
      const elapsed = performance.now() - started;
      expect(res.status).toBe(503);
      expect((await errorOf(res)).code).toBe("E_DISCORD_UNAVAILABLE");
      expect(elapsed).toBeLessThan(TIMEOUT_MS * 4);
    } finally {
      fake.oauth!.setDelay(0);
    }
  });

  it("answers 503 E_DISCORD_UNAVAILABLE when Discord's API cannot be reached", async () => {
    const unreachable = await startService(
      testConfig(env({ DISCORD_API_URL: `http://127.0.0.1:${await freePort()}/api` })),
      testLogger(),
    );
    try {
      const { browser, callback } = await callbackUrl(unreachable);
      const res = await browser.fetch(callback.toString(), { redirect: "manual" });
      expect(res.status).toBe(503);
      expect((await errorOf(res)).code).toBe("E_DISCORD_UNAVAILABLE");
    } finally {
      await unreachable.stop();
    }
  });

  it("refreshes the scope from Discord: a lost Manage Server loses the guild, losing every guild ends the session", async () => {
    fake.oauth!.setUserGuilds(allGuilds);
    const { token } = await signIn(first);
    const me = async () => fetch(`${base(first)}/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    fake.oauth!.setUserGuilds([
      { id: guildA, name: "A", permissions: "32" },
      { id: guildB, name: "B", permissions: "0" },
    ]);
    await vi.waitFor(
      async () => expect(((await (await me()).json()) as { guildIds: string[] }).guildIds).toEqual([guildA]),
      { timeout: 10_000, interval: 300 },
    );
    const forbidden = await fetch(`${base(first)}/api/analytics/ghosts?guildId=${guildB}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(forbidden.status).toBe(403);
    fake.oauth!.setUserGuilds([]);
    await vi.waitFor(async () => expect((await me()).status).toBe(401), { timeout: 10_000, interval: 300 });
    fake.oauth!.setUserGuilds(allGuilds);
  });

  it("ends the session when the user de-authorises the app at Discord", async () => {
    fake.oauth!.setUserGuilds(allGuilds);
    const { token } = await signIn(first);
    fake.oauth!.revokeAllTokens();
    await vi.waitFor(
      async () =>
        expect((await fetch(`${base(first)}/auth/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
          401,
        ),
      {
        timeout: 10_000,
        interval: 300,
      },
    );
  });
});

describe("sessions across two instances", () => {
  it("a session opened on one instance works on the other, and a revocation on one closes the other's socket at once", async () => {
    fake.oauth!.setUserGuilds(allGuilds);
    const { token } = await signIn(first);
    const onSecond = await fetch(`${base(second)}/auth/me`, { headers: { cookie: `spywatcher_session=${token}` } });
    expect(onSecond.status).toBe(200);
    const socket = await TestSocket.open(`ws://127.0.0.1:${second.port}/ws`, {
      headers: { cookie: `spywatcher_session=${token}` },
    });
    socket.send({ type: "subscribe", guildId: guildA });
    await socket.next((message) => message.type === "subscribed");
    const revoked = await fetch(`${base(first)}/api/sessions`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${token}` },
    });
    // Every session of this user goes (earlier tests left some).
    expect(((await revoked.json()) as { revoked: number }).revoked).toBeGreaterThanOrEqual(1);
    expect((await socket.closed).code).toBe(4401);
    expect((await fetch(`${base(second)}/auth/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
      401,
    );
  });

  it("an admin revokes every session of a user; stats count them; an API key becomes a session and its revocation ends it", async () => {
    const { record: adminRecord, secret: adminKey } = await first.apiKeys.createKey({ name: "ops", admin: true });
    const { record, secret } = await first.apiKeys.createKey({ name: "dash", guildIds: [guildA] });
    const exchanged = await fetch(`${base(first)}/api/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(exchanged.status).toBe(201);
    const opened = (await exchanged.json()) as {
      token: string;
      csrfToken: string;
      session: { userId: string; scope: string; guildIds: string[] };
    };
    expect(opened.session).toMatchObject({ userId: `key:${record.id}`, scope: "guild", guildIds: [guildA] });
    const bearer = { authorization: `Bearer ${opened.token}` };
    expect((await fetch(`${base(second)}/api/analytics/ghosts?guildId=${guildA}`, { headers: bearer })).status).toBe(
      200,
    );
    // A session cannot mint another session.
    expect((await fetch(`${base(first)}/api/sessions`, { method: "POST", headers: bearer })).status).toBe(401);

    await signIn(first);
    await signIn(second);
    const admin = { authorization: `Bearer ${adminKey}` };
    const stats = (await (await fetch(`${base(first)}/api/admin/sessions/stats`, { headers: admin })).json()) as {
      active: number;
      users: number;
      byScope: { guild: number };
    };
    expect(stats.active).toBeGreaterThanOrEqual(3);
    expect(stats.users).toBeGreaterThanOrEqual(2);
    const cacheStats = (await (
      await fetch(`${base(first)}/api/admin/cache/stats?keyspace=false`, { headers: admin })
    ).json()) as { sessions?: { active: number } };
    expect(cacheStats.sessions?.active).toBe(stats.active);
    expect((await fetch(`${base(first)}/api/admin/sessions/stats`, { headers: bearer })).status).toBe(403);

    const out = await fetch(`${base(second)}/api/admin/sessions/users/${moderator.id}`, {
      method: "DELETE",
      headers: admin,
    });
    expect(((await out.json()) as { revoked: number }).revoked).toBeGreaterThanOrEqual(2);
    const list = (await (await fetch(`${base(first)}/api/sessions`, { headers: bearer })).json()) as {
      sessions: unknown[];
    };
    expect(list.sessions).toHaveLength(1);

    await first.apiKeys.revokeKey(record.id);
    await vi.waitFor(
      async () => expect((await fetch(`${base(second)}/auth/me`, { headers: bearer })).status).toBe(401),
      { timeout: 5_000, interval: 100 },
    );
    await first.apiKeys.revokeKey(adminRecord.id);
  });

  it("a scheduled refresh that removes a guild closes the session's sockets on every instance with 4403; HTTP keeps the session, reduced", async () => {
    fake.oauth!.setUserGuilds(allGuilds);
    const { token } = await signIn(first);
    const cookie = { cookie: `spywatcher_session=${token}` };
    const bearer = { authorization: `Bearer ${token}` };
    const publisher = new UpdatePublisher(prefix);
    const sockets = await Promise.all(
      [first, second].map((service) => TestSocket.open(`ws://127.0.0.1:${service.port}/ws`, { headers: cookie })),
    );
    let again: TestSocket | undefined;
    try {
      for (const socket of sockets) {
        expect(await socket.subscribe(guildA)).toMatchObject({ type: "subscribed" });
        expect(await socket.subscribe(guildB)).toMatchObject({ type: "subscribed" });
      }
      // The pipe works before the change: an update of A reaches both instances' sockets.
      await publisher.publish(guildA);
      for (const socket of sockets) expect(await socket.nextUpdate()).toMatchObject({ guildId: guildA });
      const closesBefore = [first, second].map((service) => service.realtime.stats().scopeReducedCloses);

      // The moderator loses Manage Server on A. No request is made: the session sweep's refresh finds it.
      fake.oauth!.setUserGuilds([
        { id: guildA, name: "A", permissions: "0" },
        { id: guildB, name: "B", permissions: "8" },
      ]);
      for (const socket of sockets)
        expect(await socket.closed).toEqual({ code: 4403, reason: "the session's guild scope was reduced: reconnect" });
      // Each instance closed its own socket (one heard its own refresh, the other the broadcast) and dropped its subscriptions.
      expect([first, second].map((service) => service.realtime.stats().scopeReducedCloses)).toEqual(
        closesBefore.map((count) => count + 1),
      );
      await publisher.publish(guildA);
      for (const socket of sockets)
        expect(socket.received.filter((message) => message.type === "analytics:update")).toHaveLength(1);

      // Not signed out: the same token reads B, and A is now 403, on both instances.
      for (const service of [first, second]) {
        const me = (await (await fetch(`${base(service)}/auth/me`, { headers: bearer })).json()) as {
          guildIds: string[];
        };
        expect(me.guildIds).toEqual([guildB]);
        expect(
          (await fetch(`${base(service)}/api/analytics/ghosts?guildId=${guildA}`, { headers: bearer })).status,
        ).toBe(403);
        expect(
          (await fetch(`${base(service)}/api/analytics/ghosts?guildId=${guildB}`, { headers: bearer })).status,
        ).toBe(200);
      }
      // The dashboard reconnects with the reduced scope: A is refused, and only B's pushes arrive.
      again = await TestSocket.open(`ws://127.0.0.1:${second.port}/ws`, { headers: cookie });
      expect(await again.subscribe(guildA)).toMatchObject({ type: "error", error: { code: "E_FORBIDDEN" } });
      expect(await again.subscribe(guildB)).toMatchObject({ type: "subscribed" });
      await publisher.publish(guildA);
      await publisher.publish(guildB);
      expect(await again.nextUpdate()).toMatchObject({ guildId: guildB });
      expect(
        again.received.filter((message) => message.type === "analytics:update" && message.guildId === guildA),
      ).toEqual([]);
    } finally {
      fake.oauth!.setUserGuilds(allGuilds);
      await Promise.all([...sockets, ...(again ? [again] : [])].map((socket) => socket.close()));
      await publisher.close();
    }
  }, 30_000);
});

describe("Discord tokens at rest", () => {
  it("are sealed in the session record and appear in no answer and no log line", async () => {
    fake.oauth!.setUserGuilds(allGuilds);
    const { token } = await signIn(first);
    const bearer = { authorization: `Bearer ${token}` };
    const me = await (await fetch(`${base(first)}/auth/me`, { headers: bearer })).text();
    const list = await (await fetch(`${base(first)}/api/sessions`, { headers: bearer })).text();
    const sessionId = (JSON.parse(me) as { sessionId: string }).sessionId;
    const raw = (await first.redis.client.get(`${prefix}:session:${sessionId}`))!;
    expect((JSON.parse(raw) as { discordTokens: string }).discordTokens).toMatch(/^v1\./);
    const issued = fake.oauth!.issuedTokens();
    // Every sign-in of this file (on both instances) got a token pair; the first instance logged at debug level.
    expect(issued.length).toBeGreaterThanOrEqual(2);
    expect(logLines.some((line) => line.includes("session opened"))).toBe(true);
    for (const secret of issued) {
      expect(raw).not.toContain(secret);
      expect(me + list).not.toContain(secret);
      expect(logLines.find((line) => line.includes(secret))).toBeUndefined();
    }
    expect(logLines.find((line) => line.includes(token))).toBeUndefined();
  });
});
