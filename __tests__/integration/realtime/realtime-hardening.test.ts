import { setTimeout as delay } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import type { KeyAuthenticator } from "../../../backend/src/realtime/realtime-client.ts";
import { resolveRealtimeOptions } from "../../../backend/src/realtime/realtime-options.ts";
import { TEST_DATABASE_URL, randomSnowflake, testLogger, uniquePrefix } from "../../support/test-env.ts";
import { rawUpgradeRequest, startRealtimeInstance, type RealtimeInstance } from "./realtime-harness.ts";
import { TestSocket } from "../../support/ws-test-client.ts";

const ADMIN_KEY = `sw_rt_${uniquePrefix("admin-key-realtime-hardening")}`;

/** Runs `sends` with the client's TCP socket corked, so the frames leave in one write (as a fast client's would). */
function inOneWrite(socket: TestSocket, sends: () => void): void {
  const tcp = (socket.socket as unknown as { _socket: import("node:net").Socket })._socket;
  tcp.cork();
  sends();
  process.nextTick(() => tcp.uncork());
}

describe("/ws against hostile or unlucky clients: malformed upgrades, junk floods, idle unauthenticated sockets, slow key checks", () => {
  const keyPrefix = uniquePrefix("rt-hardening");
  let prisma: PrismaClient;
  let keys: ApiKeyService;
  const cleanUps: (() => Promise<void>)[] = [];
  const start = async (
    realtime: Parameters<typeof startRealtimeInstance>[0]["realtime"],
    auth: KeyAuthenticator = keys,
  ): Promise<RealtimeInstance> => {
    const instance = await startRealtimeInstance({ keyPrefix, auth, realtime });
    cleanUps.push(() => instance.close());
    return instance;
  };
  const track = (socket: TestSocket): TestSocket => {
    cleanUps.push(() => socket.close());
    return socket;
  };

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    keys = new ApiKeyService({ prisma, logger: testLogger(), adminApiKey: ADMIN_KEY });
  });
  afterEach(async () => {
    for (const cleanUp of cleanUps.splice(0).reverse()) await cleanUp();
  });
  afterAll(async () => {
    await keys?.whenIdle();
    await prisma?.$disconnect();
  });

  it("answers request targets that URL parsing rejects (//[/ws, http://[, //x:99999/ws) with 404 and stays up", async () => {
    const instance = await start({});
    for (const target of ["//[/ws", "http://[", "//x:99999/ws", "//[/ws?x=1"]) {
      const answer = await rawUpgradeRequest(instance.port, target);
      expect(answer.statusLine, target).toBe("HTTP/1.1 404 Not Found");
      expect(JSON.parse(answer.body).error.code, target).toBe("E_NOT_FOUND");
    }
    // The process is still up and serves normal upgrades; a query string does not change the path.
    const socket = track(await TestSocket.open(`${instance.url}?client=test`, { key: ADMIN_KEY }));
    expect(await socket.subscribe(randomSnowflake())).toMatchObject({ type: "subscribed" });
    expect(instance.realtime.stats()).toMatchObject({ rejectedUpgrades: 4, accepted: 1 });
  });

  it("closes with 1008 a socket that sends only bad frames (before auth), after maxConsecutiveBadFrames in a row", async () => {
    const instance = await start({ maxConsecutiveBadFrames: 5, authTimeoutMs: 60_000 });
    const socket = track(await TestSocket.open(instance.url));
    // A handled frame ends a run: four bad frames, an auth, then five bad frames close it.
    for (let i = 0; i < 4; i += 1) socket.send("x");
    socket.send({ type: "auth", key: ADMIN_KEY });
    await socket.next((message) => message.type === "authenticated");
    for (let i = 0; i < 50; i += 1) socket.send("x");
    expect(await socket.closed).toEqual({ code: 1008, reason: "5 bad frames in a row" });
    expect(socket.received.filter((message) => message.type === "error")).toHaveLength(8);
    await vi.waitFor(() =>
      expect(instance.realtime.stats()).toMatchObject({ badFrameCloses: 1, errorFrames: 8, connections: 0 }),
    );
  });

  it("refuses at once (4401) an auth message whose key is too long, instead of waiting for the auth timeout", async () => {
    const instance = await start({ authTimeoutMs: 60_000 });
    const socket = track(await TestSocket.open(instance.url));
    const startedAt = performance.now();
    socket.send({ type: "auth", key: "a".repeat(3_900) });
    const closed = await socket.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toContain("key is too long");
    expect(closed.reason).not.toContain("key is required");
    expect(performance.now() - startedAt).toBeLessThan(5_000);
  });

  it("answers every one of 40 subscribes sent in one TCP write on a header-authenticated socket (no key check, no E_LIMIT)", async () => {
    const instance = await start({ maxSubscriptionsPerSocket: 100 });
    const socket = track(await TestSocket.open(instance.url, { key: ADMIN_KEY }));
    const guilds = Array.from({ length: 40 }, () => randomSnowflake());
    inOneWrite(socket, () => {
      for (const guildId of guilds) socket.send({ type: "subscribe", guildId });
    });
    for (const guildId of guilds)
      await socket.next((message) => message.type === "subscribed" && message.guildId === guildId);
    expect(socket.received.filter((message) => message.type === "error")).toEqual([]);
  });

  it("a valid frame between bad frames ends the run of bad frames, even within one TCP write", async () => {
    const instance = await start({ maxConsecutiveBadFrames: 5 });
    const socket = track(await TestSocket.open(instance.url, { key: ADMIN_KEY }));
    const guilds = [randomSnowflake(), randomSnowflake()];
    inOneWrite(socket, () => {
      for (const guildId of guilds) {
        for (let i = 0; i < 4; i += 1) socket.send("x");
        socket.send({ type: "subscribe", guildId });
      }
      for (let i = 0; i < 4; i += 1) socket.send("x");
    });
    // Still open: 4 bad frames at most in a row.
    const last = randomSnowflake();
    socket.send({ type: "subscribe", guildId: last });
    await socket.next((message) => message.type === "subscribed" && message.guildId === last);
    expect(socket.received.filter((message) => message.type === "subscribed")).toHaveLength(3);
    expect(socket.received.filter((message) => message.type === "error")).toHaveLength(12);
  });

  it("closes with 4429 a client that never reads and makes the server answer (bad-frame limit off): answers obey WS_MAX_BUFFERED_BYTES", async () => {
    const maxBufferedBytes = 16 * 1024;
    const instance = await start({
      maxBufferedBytes,
      maxConsecutiveBadFrames: Number.MAX_SAFE_INTEGER,
      closeTimeoutMs: 10_000,
      heartbeatIntervalMs: 60_000,
    });
    const socket = track(await TestSocket.open(instance.url, { key: ADMIN_KEY }));
    socket.socket.pause();
    let sent = 0;
    // 1-byte junk frames, each answered with an 85-byte error frame, in rounds until the server gave up on the socket:
    // how many it takes depends on the kernel's socket buffers, which fill before the server's own buffer does.
    while (instance.realtime.stats().slowConsumerCloses === 0) {
      for (let i = 0; i < 5_000; i += 1) socket.send("x");
      sent += 5_000;
      await vi.waitFor(
        () => {
          const stats = instance.realtime.stats();
          expect(stats.slowConsumerCloses === 1 || stats.errorFrames === sent).toBe(true);
        },
        { timeout: 10_000 },
      );
      if (sent > 500_000) throw new Error("the non-reading socket was never closed");
    }
    const answered = instance.realtime.stats().errorFrames;
    socket.socket.resume();
    expect(await socket.closed).toEqual({ code: 4429, reason: `slow consumer: over ${maxBufferedBytes} bytes unsent` });
    // Every answer the server queued reached the client: nothing beyond the bound (plus what the kernel holds) was kept.
    expect(socket.received).toHaveLength(answered);
    expect(answered).toBeLessThan(sent);
    console.info(
      `4429 after ${sent} junk frames sent, ${answered} answered (${Math.round((answered * 87) / 1024)} KiB)`,
    );
  });

  it("bounds sockets waiting for their auth message apart from the connection bound; header-authenticated upgrades are not affected", async () => {
    expect(resolveRealtimeOptions({}).maxUnauthenticatedConnections).toBe(100);
    expect(resolveRealtimeOptions({ maxConnections: 50 }).maxUnauthenticatedConnections).toBe(10);
    expect(resolveRealtimeOptions({ maxConnections: 5 }).maxUnauthenticatedConnections).toBe(5);
    expect(
      resolveRealtimeOptions({ maxConnections: 50, maxUnauthenticatedConnections: undefined })
        .maxUnauthenticatedConnections,
    ).toBe(10);

    const instance = await start({ maxConnections: 10, maxUnauthenticatedConnections: 2, authTimeoutMs: 60_000 });
    const waiting = [track(await TestSocket.open(instance.url)), track(await TestSocket.open(instance.url))];
    const refused = await TestSocket.refused(instance.url);
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatchObject({ code: "E_LIMIT" });
    expect(refused.body.error.message).toMatch(/at most 2 WebSocket connections may wait for their auth message/);
    expect(instance.realtime.stats()).toMatchObject({ connections: 2, unauthenticated: 2, rejectedAtLimit: 1 });

    const withHeader = track(await TestSocket.open(instance.url, { key: ADMIN_KEY }));
    expect(await withHeader.subscribe(randomSnowflake())).toMatchObject({ type: "subscribed" });
    // One waiting socket authenticates: its place is free for another browser.
    waiting[0]!.send({ type: "auth", key: ADMIN_KEY });
    await waiting[0]!.next((message) => message.type === "authenticated");
    expect(instance.realtime.stats()).toMatchObject({ connections: 3, unauthenticated: 1 });
    track(await TestSocket.withAuthMessage(instance.url, ADMIN_KEY));
    // A socket that leaves before authenticating frees its place too.
    await waiting[1]!.close();
    await vi.waitFor(() => expect(instance.realtime.stats()).toMatchObject({ connections: 3, unauthenticated: 0 }));
  });

  it("does not close with 4008 a socket that sent auth in time while the key check is slower than WS_AUTH_TIMEOUT_MS", async () => {
    const authTimeoutMs = 200;
    // The real key service behind a slow network: each lookup takes three auth timeouts.
    const slowAuth: KeyAuthenticator = {
      authenticate: async (key) => {
        await delay(authTimeoutMs * 3);
        return keys.authenticate(key);
      },
    };
    const instance = await start({ authTimeoutMs }, slowAuth);
    const { secret } = await keys.createKey({ name: "realtime slow auth", admin: true });
    const socket = track(await TestSocket.open(instance.url));
    const started = performance.now();
    socket.send({ type: "auth", key: secret });
    expect(await socket.next()).toEqual({ type: "authenticated", scope: "admin" });
    expect(performance.now() - started).toBeGreaterThanOrEqual(authTimeoutMs * 3 - 20);
    expect(await socket.subscribe(randomSnowflake())).toMatchObject({ type: "subscribed" });
    expect(instance.realtime.stats()).toMatchObject({ authTimeouts: 0, connections: 1, unauthenticated: 0 });
    // Without an auth message the timeout still applies.
    const silent = track(await TestSocket.open(instance.url));
    expect(await silent.closed).toEqual({ code: 4008, reason: `no auth message within ${authTimeoutMs} ms` });
  });
});
