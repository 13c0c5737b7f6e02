import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningService } from "../../../../backend/src/service.ts";
import { startService } from "../../../../backend/src/service.ts";
import { DEMO_MODERATOR } from "../../../../backend/src/simulation/demo-moderator.ts";
import { testConfig, testLogger } from "../../../support/test-env.ts";
import { TestSocket } from "../../../support/ws-test-client.ts";
import { browserClient } from "../../../support/browser-client.ts";

// Demo mode end to end: the service starts the fake Discord (bot + OAuth2 for the demo moderator); a browser-style
// client signs in by following redirects with a cookie jar, reads an analytic and opens /ws with the cookie.
let service: RunningService;
let base: string;

beforeAll(async () => {
  service = await startService(
    testConfig({ DISCORD_ENABLED: "true", SIMULATION_EVENTS_PER_SECOND: "0" }),
    testLogger(),
  );
  base = `http://127.0.0.1:${service.port}`;
});

afterAll(async () => {
  await service?.stop();
});

/** The `error.code` of a JSON error answer. */
async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

async function signIn() {
  const browser = browserClient();
  const res = await browser.fetch(`${base}/auth/discord/login`);
  return { browser, res, me: (await res.json()) as Record<string, unknown> };
}

describe("Log in with Discord (demo mode, fake Discord)", () => {
  it("signs the demo moderator in through Discord's redirects: guilds with Manage Server and the bot only", async () => {
    const { browser, res, me } = await signIn();
    expect(res.status).toBe(200);
    expect(res.url).toBe(`${base}/auth/me`);
    const guildIds = service.discord!.simulatedGuildIds;
    expect(me).toMatchObject({ userId: DEMO_MODERATOR.id, name: "demo-moderator", scope: "guild", guildIds });
    expect(me.csrfToken).toEqual(await browser.cookie(base, "spywatcher_csrf"));
    const cookies = await browser.jar.getCookies(base);
    const session = cookies.find((cookie) => cookie.key === "spywatcher_session")!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe("lax");
    expect(session.secure).toBe(false);
    // The OAuth state cookie was single-use.
    expect(await browser.cookie(`${base}/auth/discord/callback`, "spywatcher_oauth_state")).toBeUndefined();
  });

  it("reads an analytic with the cookie, and is refused a guild outside the session's scope", async () => {
    const { browser } = await signIn();
    const guildId = service.discord!.simulatedGuildIds[0]!;
    const ok = await browser.fetch(`${base}/api/analytics/ghosts?guildId=${guildId}`);
    expect(ok.status).toBe(200);
    const other = await browser.fetch(`${base}/api/analytics/ghosts?guildId=123456789012345678`);
    expect(other.status).toBe(403);
  });

  it("opens /ws with the session cookie and subscribes to a guild in scope", async () => {
    const { browser } = await signIn();
    const token = (await browser.cookie(base, "spywatcher_session"))!;
    const guildId = service.discord!.simulatedGuildIds[0]!;
    const socket = await TestSocket.open(`ws://127.0.0.1:${service.port}/ws`, {
      headers: { cookie: `spywatcher_session=${token}`, origin: base },
    });
    socket.send({ type: "subscribe", guildId });
    expect(await socket.next((message) => message.type === "subscribed" || message.type === "error")).toMatchObject({
      type: "subscribed",
      guildId,
    });
    // Logging out closes the socket at once (4401), on this instance through the revocation callback.
    const csrf = (await browser.cookie(base, "spywatcher_csrf"))!;
    const out = await browser.fetch(`${base}/auth/logout`, { method: "POST", headers: { "x-csrf-token": csrf } });
    expect(await out.json()).toEqual({ loggedOut: true, revoked: 1 });
    expect((await socket.closed).code).toBe(4401);
    expect((await browser.fetch(`${base}/auth/me`)).status).toBe(401);
  });

  it("refuses the cookie on /ws from another site's page (Origin), so cross-site sockets stay unauthenticated", async () => {
    const { browser } = await signIn();
    const token = (await browser.cookie(base, "spywatcher_session"))!;
    const socket = await TestSocket.open(`ws://127.0.0.1:${service.port}/ws`, {
      headers: { cookie: `spywatcher_session=${token}`, origin: "https://evil.example" },
    });
    socket.send({ type: "subscribe", guildId: service.discord!.simulatedGuildIds[0]! });
    expect(await socket.next((message) => message.type === "error")).toMatchObject({ type: "error" });
    socket.socket.terminate();
  });

  it("requires the CSRF header for state-changing requests made with the cookie", async () => {
    const { browser } = await signIn();
    const refused = await browser.fetch(`${base}/api/sessions`, { method: "DELETE" });
    expect(refused.status).toBe(403);
    expect(await errorCode(refused)).toBe("E_CSRF");
    const wrong = await browser.fetch(`${base}/api/sessions`, {
      method: "DELETE",
      headers: { "x-csrf-token": "x".repeat(43) },
    });
    expect(wrong.status).toBe(403);
    const list = (await (await browser.fetch(`${base}/api/sessions`)).json()) as {
      sessions: { id: string; current: boolean }[];
    };
    const current = list.sessions.find((session) => session.current)!;
    expect(current.id).toMatch(/^[0-9a-f]{64}$/);
    const csrf = (await browser.cookie(base, "spywatcher_csrf"))!;
    const deleted = await browser.fetch(`${base}/api/sessions/${current.id}`, {
      method: "DELETE",
      headers: { "x-csrf-token": csrf },
    });
    expect(await deleted.json()).toEqual({ revoked: 1 });
    expect((await browser.fetch(`${base}/auth/me`)).status).toBe(401);
  });

  it("gives a new session id at every sign-in (no fixation)", async () => {
    const browser = browserClient();
    await browser.fetch(`${base}/auth/discord/login`);
    const first = await browser.cookie(base, "spywatcher_session");
    await browser.fetch(`${base}/auth/discord/login`);
    const second = await browser.cookie(base, "spywatcher_session");
    expect(first).toMatch(/^sws_/);
    expect(second).toMatch(/^sws_/);
    expect(second).not.toBe(first);
  });

  it("refuses a replayed callback, a forged state and a state from another browser", async () => {
    const browser = browserClient();
    const login = await browser.fetch(`${base}/auth/discord/login`, { redirect: "manual" });
    const authorize = login.headers.get("location")!;
    const atDiscord = await fetch(authorize, { redirect: "manual" });
    const callback = atDiscord.headers.get("location")!;
    // Another browser (no state cookie) presenting this callback: login CSRF.
    const stranger = await fetch(callback, { redirect: "manual" });
    expect(stranger.status).toBe(400);
    expect(await errorCode(stranger)).toBe("E_OAUTH_STATE");
    // A forged state with the right cookie name but another value.
    const forged = new URL(callback);
    forged.searchParams.set("state", "A".repeat(43));
    const forgedRes = await browser.fetch(forged.toString(), { redirect: "manual" });
    expect(await errorCode(forgedRes)).toBe("E_OAUTH_STATE");
  });

  it("refuses a replayed state after a successful sign-in", async () => {
    const browser = browserClient();
    const login = await browser.fetch(`${base}/auth/discord/login`, { redirect: "manual" });
    const state = new URL(login.headers.get("location")!).searchParams.get("state")!;
    const atDiscord = await fetch(login.headers.get("location")!, { redirect: "manual" });
    const callback = atDiscord.headers.get("location")!;
    const first = await browser.fetch(callback, { redirect: "manual" });
    expect(first.status).toBe(302);
    // Replay with the state cookie put back, as an attacker holding the URL and the cookie would.
    await browser.jar.setCookie(`spywatcher_oauth_state=${state}; Path=/auth/discord`, base);
    const replay = await browser.fetch(callback, { redirect: "manual" });
    expect(replay.status).toBe(400);
    expect(await errorCode(replay)).toBe("E_OAUTH_STATE");
  });

  it("answers 401 for a tampered session token, by cookie and by bearer", async () => {
    const { browser } = await signIn();
    const token = (await browser.cookie(base, "spywatcher_session"))!;
    const tampered = `${token.slice(0, -2)}${token.endsWith("AA") ? "BB" : "AA"}`;
    const byCookie = await fetch(`${base}/auth/me`, { headers: { cookie: `spywatcher_session=${tampered}` } });
    expect(byCookie.status).toBe(401);
    const byBearer = await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${tampered}` } });
    expect(byBearer.status).toBe(401);
    expect(await errorCode(byBearer)).toBe("E_UNAUTHORIZED");
    const good = await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(good.status).toBe(200);
  });
});
