import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type RunningService } from "../../../../backend/src/service.ts";
import { randomSnowflake, testConfig, testLogger } from "../../../support/test-env.ts";
import { TestSocket } from "../../../support/ws-test-client.ts";

// The per-address limit on failed authentications (AUTH_FAILURES_PER_MINUTE) covers session tokens as it covers API
// keys, in one count: guessing session ids is throttled with the same 429 E_RATE_LIMITED. The real service, real Redis.
const LIMIT = 3;
let service: RunningService;
let base: string;
let apiKey: string;
const guildId = randomSnowflake();

/** A well-formed session token nobody issued: what a guesser sends. */
const forgedToken = () => `sws_${randomBytes(32).toString("base64url")}`;
/** A well-formed API key nobody issued. */
const forgedKey = () => `sw_${randomBytes(32).toString("base64url")}`;

beforeAll(async () => {
  service = await startService(
    testConfig({ AUTH_FAILURES_PER_MINUTE: String(LIMIT), TRUST_PROXY: "true" }),
    testLogger(),
  );
  base = `http://127.0.0.1:${service.port}`;
  apiKey = (await service.apiKeys.createKey({ name: "session limit", guildIds: [guildId] })).secret;
});

afterAll(async () => {
  await service?.stop();
});

/** GET /auth/me as if from `ip` with a bearer credential, or with the session cookie. */
const me = (ip: string, credential: string, via: "bearer" | "cookie" = "bearer") =>
  fetch(`${base}/auth/me`, {
    headers: {
      "x-forwarded-for": ip,
      ...(via === "bearer"
        ? { authorization: `Bearer ${credential}` }
        : { cookie: `spywatcher_session=${credential}` }),
    },
  });

/** A session made from the API key, from a spare address (so it costs the tested one nothing). */
async function openSession(): Promise<string> {
  const res = await fetch(`${base}/api/sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "x-forwarded-for": "10.77.0.250" },
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

describe("failed session tokens from one address (AUTH_FAILURES_PER_MINUTE)", () => {
  it("past the limit: 429 E_RATE_LIMITED with Retry-After for unknown tokens by bearer, cookie and /ws; sessions verified here still work", async () => {
    const ip = "10.77.0.1";
    const verified = await openSession();
    const unverified = await openSession();
    expect((await me(ip, verified)).status).toBe(200);
    for (let i = 0; i < LIMIT; i += 1) {
      const res = await me(ip, forgedToken(), i % 2 === 0 ? "bearer" : "cookie");
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("E_UNAUTHORIZED");
    }

    const limited = await me(ip, forgedToken());
    expect(limited.status).toBe(429);
    const body = (await limited.json()) as {
      error: { code: string; message: string; details: { retryAfterSeconds: number } };
    };
    expect(body.error.code).toBe("E_RATE_LIMITED");
    expect(body.error.message).toMatch(/Too many failed authentications/);
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await me(ip, forgedToken(), "cookie")).status).toBe(429);
    // A malformed token is a failed attempt too, refused the same way.
    expect((await me(ip, "sws_short")).status).toBe(429);
    // A valid session this instance never verified is refused as well: the refusal comes before the Redis read, so
    // a guesser learns nothing from it.
    expect((await me(ip, unverified)).status).toBe(429);
    // The session verified before the flood still works from the limited address.
    expect((await me(ip, verified)).status).toBe(200);
    // /ws: the upgrade with a forged session counts the same address (X-Forwarded-For under TRUST_PROXY).
    const socket = await TestSocket.refusedWith(`ws://127.0.0.1:${service.port}/ws`, {
      authorization: `Bearer ${forgedToken()}`,
      "x-forwarded-for": ip,
    });
    expect(socket.status).toBe(429);
    expect(socket.body.error.code).toBe("E_RATE_LIMITED");
    // The limit is per address: another one still gets the plain 401, and its valid session works.
    expect((await me("10.77.0.2", forgedToken())).status).toBe(401);
    expect((await me("10.77.0.2", unverified)).status).toBe(200);
  });

  it("wrong API keys and forged session tokens from one address add up to one count", async () => {
    const ip = "10.77.0.3";
    expect((await me(ip, forgedKey())).status).toBe(401);
    expect((await me(ip, forgedToken())).status).toBe(401);
    expect((await me(ip, forgedKey())).status).toBe(401);
    expect((await me(ip, forgedToken())).status).toBe(429);
    expect((await me(ip, forgedKey())).status).toBe(429);
  });
});
