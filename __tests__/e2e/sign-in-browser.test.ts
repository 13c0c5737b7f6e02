import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceProcess } from "../support/service-process.ts";
import { browserClient } from "../support/browser-client.ts";
import { TestSocket } from "../support/ws-test-client.ts";

// The real entry point (`npm start`) in demo mode, driven like a browser: a cookie jar, redirects followed through
// the fake Discord, then an analytic and a WebSocket with nothing but the cookie.
let service: ServiceProcess;

beforeAll(async () => {
  service = await ServiceProcess.start({
    env: { DISCORD_ENABLED: "true", SIMULATION_EVENTS_PER_SECOND: "50" },
    readyTimeoutMs: 60_000,
  });
}, 90_000);

afterAll(async () => {
  await service?.kill();
});

describe("a browser signing in to the running service (demo mode)", () => {
  it("signs in with Discord, reads an analytic and opens /ws with the session cookie", async () => {
    const browser = browserClient();
    const signedIn = await browser.fetch(`${service.url}/auth/discord/login`);
    expect(signedIn.status).toBe(200);
    expect(signedIn.url).toBe(`${service.url}/auth/me`);
    const me = (await signedIn.json()) as { userId: string; scope: string; guildIds: string[]; csrfToken: string };
    expect(me.scope).toBe("guild");
    expect(me.guildIds.length).toBeGreaterThan(0);

    const guildId = me.guildIds[0]!;
    const analytic = await browser.fetch(`${service.url}/api/analytics/heatmap?guildId=${guildId}&since=24h`);
    expect(analytic.status).toBe(200);
    expect(await analytic.json()).toBeTypeOf("object");

    const cookie = await browser.jar.getCookieString(service.url);
    expect(cookie).toContain("spywatcher_session=");
    const socket = await TestSocket.open(`${service.url.replace("http", "ws")}/ws`, {
      headers: { cookie, origin: service.url },
    });
    socket.send({ type: "subscribe", guildId });
    expect(await socket.next((message) => message.type === "subscribed" || message.type === "error")).toMatchObject({
      type: "subscribed",
      guildId,
    });
    // Live activity of the simulated guild reaches the socket.
    expect(await socket.next((message) => message.type === "analytics:update")).toMatchObject({ guildId });

    const out = await browser.fetch(`${service.url}/auth/logout`, {
      method: "POST",
      headers: { "x-csrf-token": me.csrfToken },
    });
    expect(out.status).toBe(200);
    expect((await socket.closed).code).toBe(4401);
    // No token, cookie or Discord secret reached the logs.
    const token = cookie.match(/spywatcher_session=([^;]+)/)![1]!;
    expect(service.text()).not.toContain(token);
    expect(service.text()).not.toContain(me.csrfToken);
  });
});
