import { once } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { TEST_DATABASE_URL, randomSnowflake, testLogger, uniquePrefix } from "../../support/test-env.ts";
import {
  openStalledSocket,
  startRealtimeInstance,
  UpdatePublisher,
  writeClientFrame,
  type RealtimeInstance,
} from "./realtime-harness.ts";
import { TestSocket } from "../../support/ws-test-client.ts";

const ADMIN_KEY = `sw_rt_${uniquePrefix("admin-key-realtime-limits")}`;

describe("/ws limits: connections, subscriptions, heartbeat, slow consumers, frame size, shutdown", () => {
  const keyPrefix = uniquePrefix("rt-limits");
  let prisma: PrismaClient;
  let keys: ApiKeyService;
  let publisher: UpdatePublisher;
  const cleanUps: (() => Promise<void>)[] = [];
  const start = async (
    realtime: Parameters<typeof startRealtimeInstance>[0]["realtime"],
  ): Promise<RealtimeInstance> => {
    const instance = await startRealtimeInstance({ keyPrefix, auth: keys, realtime });
    cleanUps.push(() => instance.close());
    return instance;
  };
  const open = async (url: string): Promise<TestSocket> => {
    const socket = await TestSocket.open(url, { key: ADMIN_KEY });
    cleanUps.push(() => socket.close());
    return socket;
  };

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    keys = new ApiKeyService({ prisma, logger: testLogger(), adminApiKey: ADMIN_KEY });
    publisher = new UpdatePublisher(keyPrefix);
  });
  afterEach(async () => {
    // Sockets first (they were opened after their instance), then instances.
    for (const cleanUp of cleanUps.splice(0).reverse()) await cleanUp();
  });
  afterAll(async () => {
    await publisher?.close();
    await prisma?.$disconnect();
  });

  it("refuses upgrades past WS_MAX_CONNECTIONS with HTTP 503, and accepts again once a socket left", async () => {
    const instance = await start({ maxConnections: 2 });
    const first = await open(instance.url);
    await open(instance.url);
    const refused = await TestSocket.refused(instance.url, `Bearer ${ADMIN_KEY}`);
    expect(refused).toEqual({
      status: 503,
      body: { error: { code: "E_LIMIT", message: "at most 2 WebSocket connections; try again later" } },
    });
    expect(instance.realtime.stats()).toMatchObject({ connections: 2, rejectedAtLimit: 1 });
    await first.close();
    await vi.waitFor(() => expect(instance.realtime.stats().connections).toBe(1));
    await open(instance.url);
  });

  it("answers E_LIMIT past WS_MAX_SUBSCRIPTIONS per socket; re-subscribing a guild is not counted twice", async () => {
    const instance = await start({ maxSubscriptionsPerSocket: 2 });
    const socket = await open(instance.url);
    const [g1, g2, g3] = [randomSnowflake(), `${randomSnowflake()}1`, `${randomSnowflake()}2`];
    await socket.subscribe(g1);
    await socket.subscribe(g2);
    expect(await socket.subscribe(g1)).toEqual({ type: "subscribed", guildId: g1 });
    expect(await socket.subscribe(g3)).toEqual({
      type: "error",
      error: { code: "E_LIMIT", message: "at most 2 subscriptions per socket" },
    });
    expect(instance.realtime.stats()).toMatchObject({ subscriptions: 2, guilds: 2 });
    socket.send({ type: "unsubscribe", guildId: g2 });
    expect(await socket.subscribe(g3)).toEqual({ type: "subscribed", guildId: g3 });
  });

  it("closes a socket that sends a frame over the payload bound with 1009", async () => {
    const instance = await start({ maxPayloadBytes: 256 });
    const socket = await open(instance.url);
    socket.send({ type: "subscribe", guildId: "1".repeat(300) });
    expect((await socket.closed).code).toBe(1009);
  });

  it("terminates a socket that does not answer pings within one heartbeat interval", async () => {
    const instance = await start({ heartbeatIntervalMs: 100 });
    const socket = await TestSocket.open(instance.url, { key: ADMIN_KEY, autoPong: false });
    cleanUps.push(() => socket.close());
    const healthy = await open(instance.url);
    // Terminated without a close frame: the client sees 1006 (abnormal closure).
    expect((await socket.closed).code).toBe(1006);
    await vi.waitFor(() =>
      expect(instance.realtime.stats()).toMatchObject({ heartbeatTerminations: 1, connections: 1 }),
    );
    expect(healthy.socket.readyState).toBe(healthy.socket.OPEN);
  });

  it("closes a socket that stops reading once its unsent bytes pass WS_MAX_BUFFERED_BYTES; other sockets keep up", async () => {
    const instance = await start({ maxBufferedBytes: 64 * 1024, heartbeatIntervalMs: 60_000, closeTimeoutMs: 200 });
    const guildId = randomSnowflake();
    const stalled = await openStalledSocket(instance.port, ADMIN_KEY);
    cleanUps.push(async () => void stalled.destroy());
    writeClientFrame(stalled, { type: "subscribe", guildId });
    const reader = await open(instance.url);
    await reader.subscribe(guildId);
    await vi.waitFor(() => expect(instance.realtime.stats().subscriptions).toBe(2));

    const stalledEnded = once(stalled, "close");
    let sent = 0;
    // Publish in rounds until the stalled socket was closed: how much it takes depends on the kernel's socket buffers.
    while (instance.realtime.stats().slowConsumerCloses === 0) {
      await publisher.flood(guildId, 2_000);
      sent += 2_000;
      await vi.waitFor(() => expect(instance.realtime.stats().updatesReceived).toBe(sent), { timeout: 10_000 });
      if (sent > 400_000) throw new Error("the stalled socket was never closed");
    }
    stalled.resume();
    await stalledEnded;
    await vi.waitFor(() =>
      expect(instance.realtime.stats()).toMatchObject({ slowConsumerCloses: 1, connections: 1, subscriptions: 1 }),
    );
    // The reading socket got every update.
    await vi.waitFor(
      () => expect(reader.received.filter((message) => message.type === "analytics:update")).toHaveLength(sent),
      { timeout: 10_000 },
    );
  });

  it("stop closes every socket with 1001 and removes the upgrade listener", async () => {
    const instance = await start({});
    const sockets = [await open(instance.url), await open(instance.url)];
    const listenersBefore = instance.server.listenerCount("upgrade");
    await instance.realtime.close();
    for (const socket of sockets) expect(await socket.closed).toEqual({ code: 1001, reason: "server shutting down" });
    expect(instance.server.listenerCount("upgrade")).toBe(listenersBefore - 1);
    expect(instance.realtime.stats().connections).toBe(0);
    expect(await publisher.channelSubscribers()).toBe(0);
  });
});
