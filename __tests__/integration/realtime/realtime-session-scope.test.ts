import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentialAuthenticator } from "../../../backend/src/auth/credential-authenticator.ts";
import type { PrincipalScope } from "../../../backend/src/auth/principal.ts";
import type { SessionScopeSource } from "../../../backend/src/auth/sessions/session-scope-source.ts";
import { SessionService, type SessionServiceOptions } from "../../../backend/src/auth/sessions/session-service.ts";
import { SessionStore } from "../../../backend/src/auth/sessions/session-store.ts";
import { randomSnowflake, TEST_REDIS_URL, testLogger, uniquePrefix } from "../../support/test-env.ts";
import { startRealtimeInstance, UpdatePublisher, type RealtimeInstance } from "./realtime-harness.ts";
import { TestSocket } from "../../support/ws-test-client.ts";

const HOUR = 3_600_000;

/**
 * A scope reduction whose broadcast never arrived (lost while this instance's subscriber was down, or the publish
 * failed): the heartbeat's re-check of each socket reads the session from Redis and closes it with 4403.
 */
describe("/ws: a session's scope reduced on another instance without a broadcast", () => {
  const keyPrefix = uniquePrefix("ws-scope");
  const guildA = randomSnowflake();
  const guildB = randomSnowflake();
  let redis: Redis;
  let instance: RealtimeInstance;
  let here: SessionService;
  let there: SessionService;
  // What "Discord" answers at the next refresh (the source stands in for Discord's /users/@me/guilds).
  let discordScope: PrincipalScope = { scope: "guild", guildIds: [guildA, guildB] };
  const discord: SessionScopeSource = { refresh: async () => discordScope };

  /** One instance's session service on the shared Redis; none has `broadcastRevocation`: the announcement is lost. */
  const sessionService = (
    scopeSources: Partial<Record<"discord", SessionScopeSource>>,
    onRevoked: SessionServiceOptions["onRevoked"],
  ) =>
    new SessionService({
      store: new SessionStore(redis, keyPrefix, 24 * HOUR),
      logger: testLogger(),
      ttlMs: 24 * HOUR,
      maxAgeMs: 7 * 24 * HOUR,
      scopeRefreshIntervalMs: 0,
      staleIfErrorMs: 60_000,
      scopeSources,
      onRevoked,
    });

  beforeAll(async () => {
    redis = new Redis(TEST_REDIS_URL);
    // This instance holds the socket and never refreshes by itself (no scope source); the other one refreshes.
    here = sessionService({}, (ids, reason) => instance?.realtime.closeSessions(ids, reason));
    there = sessionService({ discord }, undefined);
    instance = await startRealtimeInstance({
      keyPrefix,
      auth: credentialAuthenticator({ authenticate: async () => undefined }, here),
      realtime: { heartbeatIntervalMs: 200 },
    });
  });
  afterAll(async () => {
    await instance?.close();
    await Promise.all([here?.whenIdle(), there?.whenIdle()]);
    await redis?.quit();
  });

  it("the next heartbeat closes the socket with 4403 and its subscriptions end; the session keeps its remaining guild", async () => {
    const opened = await here.open({
      kind: "discord",
      userId: randomSnowflake(),
      userName: "mod",
      scope: discordScope,
      clientIp: "127.0.0.1",
      userAgent: "test",
    });
    const publisher = new UpdatePublisher(keyPrefix);
    const socket = await TestSocket.open(instance.url, { key: opened.token });
    try {
      expect(await socket.subscribe(guildA)).toMatchObject({ type: "subscribed" });
      expect(await socket.subscribe(guildB)).toMatchObject({ type: "subscribed" });
      // Heartbeats with an unchanged scope keep the socket (the re-check is not a close by itself).
      await publisher.publish(guildA);
      expect(await socket.nextUpdate()).toMatchObject({ guildId: guildA });

      discordScope = { scope: "guild", guildIds: [guildB] };
      expect(await there.refreshDueScopes()).toBeGreaterThanOrEqual(1);
      expect(await socket.closed).toEqual({ code: 4403, reason: "the session's guild scope was reduced: reconnect" });
      expect(instance.realtime.stats()).toMatchObject({ scopeReducedCloses: 1, subscriptions: 0, authFailures: 0 });
      expect(await here.authenticate(opened.token)).toMatchObject({ scope: "guild", guildIds: [guildB] });
    } finally {
      await socket.close();
      await publisher.close();
    }
  });
});
