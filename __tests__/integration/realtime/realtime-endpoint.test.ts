import { randomBytes } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { TEST_DATABASE_URL, randomSnowflake, testLogger, uniquePrefix } from "../../support/test-env.ts";
import { startRealtimeInstance, UpdatePublisher, type RealtimeInstance } from "./realtime-harness.ts";
import { TestSocket } from "../../support/ws-test-client.ts";

const ADMIN_KEY = `sw_rt_${uniquePrefix("admin-key-realtime-endpoint")}`;

/** A key of the shape the service issues (`sw_` + 43 base64url characters) that no row holds: its check reaches PostgreSQL. */
const wellFormedUnknownKey = (): string => `sw_${randomBytes(32).toString("base64url")}`;

/** A TCP port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("/ws endpoint: auth, subscriptions, bad frames, pushes from another publisher (real Redis, PostgreSQL, ws)", () => {
  const keyPrefix = uniquePrefix("rt-endpoint");
  const guildA = randomSnowflake();
  const guildB = `${randomSnowflake()}1`;
  let prisma: PrismaClient;
  let keys: ApiKeyService;
  let guildKey: string;
  let revocableKey: { id: string; secret: string };
  let instance: RealtimeInstance;
  // An instance whose key service cannot reach PostgreSQL (a closed port) and has no stale-if-error grace.
  let unreachablePrisma: PrismaClient;
  let unreachableKeys: ApiKeyService;
  let noDatabase: RealtimeInstance;
  let publisher: UpdatePublisher;
  const sockets: TestSocket[] = [];
  const track = (socket: TestSocket) => {
    sockets.push(socket);
    return socket;
  };

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    keys = new ApiKeyService({ prisma, logger: testLogger(), adminApiKey: ADMIN_KEY });
    guildKey = (await keys.createKey({ name: "realtime guild A", guildIds: [guildA] })).secret;
    const revocable = await keys.createKey({ name: "realtime revocable", guildIds: [guildA] });
    revocableKey = { id: revocable.record.id, secret: revocable.secret };
    instance = await startRealtimeInstance({
      keyPrefix,
      auth: keys,
      realtime: { authTimeoutMs: 300, heartbeatIntervalMs: 200 },
    });
    publisher = new UpdatePublisher(keyPrefix);
    const unreachableUrl = new URL(TEST_DATABASE_URL);
    unreachableUrl.port = String(await closedPort());
    unreachablePrisma = createPrismaClient({ url: unreachableUrl.toString(), poolMax: 1, connectionTimeoutMs: 300 });
    unreachableKeys = new ApiKeyService({
      prisma: unreachablePrisma,
      logger: testLogger(),
      staleIfErrorMs: 0,
      lookupTimeoutMs: 500,
    });
    noDatabase = await startRealtimeInstance({ keyPrefix, auth: unreachableKeys });
  });
  afterAll(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await instance?.close();
    await noDatabase?.close();
    await unreachablePrisma?.$disconnect();
    await publisher?.close();
    await keys?.whenIdle();
    await prisma?.$disconnect();
  });

  it("accepts a key in the Authorization header of the upgrade", async () => {
    const socket = track(await TestSocket.open(instance.url, { key: ADMIN_KEY }));
    expect(await socket.subscribe(guildA)).toEqual({ type: "subscribed", guildId: guildA });
  });

  it("accepts a key in a first auth message and says which scope it has", async () => {
    const socket = track(await TestSocket.open(instance.url));
    socket.send({ type: "auth", key: guildKey });
    expect(await socket.next()).toEqual({ type: "authenticated", scope: "guild", guildIds: [guildA] });
  });

  it("refuses a key of the wrong shape or a malformed header with HTTP 401 and a JSON body (no query needed)", async () => {
    const unknown = await TestSocket.refused(instance.url, "Bearer sw_not_a_real_key_0123456789");
    expect(unknown).toEqual({
      status: 401,
      body: { error: { code: "E_UNAUTHORIZED", message: "the API key is unknown or revoked" } },
    });
    const malformed = await TestSocket.refused(instance.url, "Basic abc");
    expect(malformed.status).toBe(401);
    expect(malformed.body.error.message).toMatch(/Bearer/);
  });

  it("a well-formed key that PostgreSQL does not know: HTTP 401 on upgrade, 4401 on first-message auth", async () => {
    const refused = await TestSocket.refused(instance.url, `Bearer ${wellFormedUnknownKey()}`);
    expect(refused).toEqual({
      status: 401,
      body: { error: { code: "E_UNAUTHORIZED", message: "the API key is unknown or revoked" } },
    });
    const socket = track(await TestSocket.open(instance.url));
    socket.send({ type: "auth", key: wellFormedUnknownKey() });
    expect(await socket.closed).toEqual({ code: 4401, reason: "the API key is unknown or revoked" });
  });

  it("a key that cannot be checked (PostgreSQL unreachable, no stale grace): HTTP 503 on upgrade, 1013 on first-message auth", async () => {
    const refused = await TestSocket.refused(noDatabase.url, `Bearer ${wellFormedUnknownKey()}`);
    expect(refused).toEqual({
      status: 503,
      body: {
        error: { code: "E_DEPENDENCY_UNAVAILABLE", message: "the API key cannot be checked now; try again later" },
      },
    });
    const socket = track(await TestSocket.open(noDatabase.url));
    socket.send({ type: "auth", key: wellFormedUnknownKey() });
    expect(await socket.closed).toEqual({ code: 1013, reason: "the API key cannot be checked now; try again later" });
    await vi.waitFor(() => expect(noDatabase.realtime.stats()).toMatchObject({ authFailures: 0, connections: 0 }));
  });

  it("refuses another path with HTTP 404", async () => {
    const refused = await TestSocket.refused(instance.url.replace("/ws", "/other"));
    expect(refused.status).toBe(404);
  });

  it("closes with 4401 when the auth message carries a key of the wrong shape, never echoing the key", async () => {
    const socket = track(await TestSocket.open(instance.url));
    socket.send({ type: "auth", key: "sw_wrong_key_1234567890abcdef" });
    const closed = await socket.closed;
    expect(closed).toEqual({ code: 4401, reason: "the API key is unknown or revoked" });
    expect(JSON.stringify(socket.received)).not.toContain("sw_wrong_key");
  });

  it("closes with 4008 when no auth message comes within the auth timeout; subscribe before auth is an error frame", async () => {
    const socket = track(await TestSocket.open(instance.url));
    socket.send({ type: "subscribe", guildId: guildA });
    expect(await socket.next()).toEqual({
      type: "error",
      error: { code: "E_UNAUTHORIZED", message: 'send {"type":"auth","key":"<api key>"} first' },
    });
    expect(await socket.closed).toEqual({ code: 4008, reason: "no auth message within 300 ms" });
  });

  it("a guild-scoped key may subscribe to its guild only: E_FORBIDDEN otherwise, connection kept", async () => {
    const socket = track(await TestSocket.withAuthMessage(instance.url, guildKey));
    expect(await socket.subscribe(guildB)).toEqual({
      type: "error",
      error: { code: "E_FORBIDDEN", message: `this API key is not scoped to guild ${guildB}` },
    });
    expect(await socket.subscribe(guildA)).toEqual({ type: "subscribed", guildId: guildA });
  });

  it("answers bad frames with an error frame naming what was wrong, and keeps the connection", async () => {
    const socket = track(await TestSocket.open(instance.url, { key: ADMIN_KEY }));
    const errorOf = async (frame: unknown) => {
      socket.send(frame);
      const answer = await socket.next();
      if (answer.type !== "error") throw new Error(`expected an error frame, got ${JSON.stringify(answer)}`);
      return answer.error;
    };
    expect(await errorOf("not json")).toEqual({ code: "E_BAD_MESSAGE", message: "frame is not valid JSON" });
    expect(await errorOf({ type: "dance" })).toEqual({
      code: "E_VALIDATION",
      message: 'type must be one of "auth", "subscribe", "unsubscribe"',
    });
    expect(await errorOf({ type: "subscribe" })).toEqual({ code: "E_VALIDATION", message: "guildId is required" });
    expect(await errorOf({ type: "subscribe", guildId: "12ab" })).toEqual({
      code: "E_VALIDATION",
      message: "guildId must be a Discord snowflake (17-20 digits)",
    });
    expect(await errorOf({ type: "auth", key: ADMIN_KEY })).toEqual({
      code: "E_BAD_MESSAGE",
      message: "already authenticated",
    });
    socket.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await socket.next()).toEqual({
      type: "error",
      error: { code: "E_BAD_MESSAGE", message: "frames must be JSON text, not binary" },
    });
    expect(await socket.subscribe(guildA)).toEqual({ type: "subscribed", guildId: guildA });
  });

  it("an update published on another connection reaches the guild's sockets and no other socket", async () => {
    const [onA, alsoOnA, onB] = await Promise.all([
      TestSocket.open(instance.url, { key: ADMIN_KEY }).then(track),
      TestSocket.withAuthMessage(instance.url, guildKey).then(track),
      TestSocket.open(instance.url, { key: ADMIN_KEY }).then(track),
    ]);
    await onA.subscribe(guildA);
    await alsoOnA.subscribe(guildA);
    await onB.subscribe(guildB);

    const sent = await publisher.publish(guildA, ["ghosts", "shifts"]);
    expect(await onA.nextUpdate()).toEqual({ type: "analytics:update", ...sent });
    expect(await alsoOnA.nextUpdate()).toEqual({ type: "analytics:update", ...sent });
    // Updates reach this process in publish order and are fanned out in order: once B has B's update, an update of
    // A meant for B would have arrived before it.
    const forB = await publisher.publish(guildB, ["roles"]);
    expect(await onB.nextUpdate()).toEqual({ type: "analytics:update", ...forB });
    expect(onB.received.filter((message) => message.type === "analytics:update")).toHaveLength(1);
  });

  it("unsubscribe stops pushes of that guild", async () => {
    const socket = track(await TestSocket.open(instance.url, { key: ADMIN_KEY }));
    await socket.subscribe(guildA);
    await socket.subscribe(guildB);
    socket.send({ type: "unsubscribe", guildId: guildA });
    expect(await socket.next((message) => message.type === "unsubscribed")).toEqual({
      type: "unsubscribed",
      guildId: guildA,
    });
    await publisher.publish(guildA);
    const forB = await publisher.publish(guildB);
    expect(await socket.nextUpdate()).toEqual({ type: "analytics:update", ...forB });
    expect(socket.received.filter((message) => message.type === "analytics:update")).toHaveLength(1);
  });

  it("closes a socket whose key was revoked at the next heartbeat (4401)", async () => {
    const socket = track(await TestSocket.open(instance.url, { key: revocableKey.secret }));
    await socket.subscribe(guildA);
    await keys.revokeKey(revocableKey.id);
    expect(await socket.closed).toEqual({ code: 4401, reason: "the API key was revoked" });
    await vi.waitFor(() => expect(instance.realtime.stats().authFailures).toBeGreaterThanOrEqual(1));
  });
});
