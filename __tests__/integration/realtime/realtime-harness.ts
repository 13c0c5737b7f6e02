import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import net from "node:net";
import { Redis } from "ioredis";
import { ANALYTICS_TYPES, type AnalyticsType } from "../../../backend/src/analytics/analytics-catalog.ts";
import type { KeyAuthenticator } from "../../../backend/src/realtime/realtime-client.ts";
import type { RealtimeOptions } from "../../../backend/src/realtime/realtime-options.ts";
import { attachRealtime, type RealtimeServer } from "../../../backend/src/realtime/realtime-server.ts";
import { analyticsUpdateChannel, type AnalyticsUpdate } from "../../../backend/src/pubsub/analytics-update.ts";
import {
  createRedisConnections,
  waitForRedisReady,
  type RedisConnections,
} from "../../../backend/src/redis/redis-connections.ts";
import { boundPort } from "../../../backend/src/lifecycle/http-server.ts";
import { TEST_COMMAND_TIMEOUT_MS, TEST_REDIS_URL, testLogger } from "../../support/test-env.ts";

/** One API instance's realtime side: its own HTTP server and Redis connections, the `/ws` endpoint on them. */
export interface RealtimeInstance {
  server: Server;
  port: number;
  /** ws://127.0.0.1:<port>/ws */
  url: string;
  realtime: RealtimeServer;
  redis: RedisConnections;
  close(): Promise<void>;
}

/** Starts an instance on a free port; resolves once its update channel is subscribed. */
export async function startRealtimeInstance(options: {
  keyPrefix: string;
  auth: KeyAuthenticator;
  redisUrl?: string;
  realtime?: Partial<RealtimeOptions>;
}): Promise<RealtimeInstance> {
  const redis = createRedisConnections(
    { url: options.redisUrl ?? TEST_REDIS_URL, commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS, connectTimeoutMs: 500 },
    testLogger(),
  );
  await waitForRedisReady(redis.subscriber, 5_000);
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = boundPort(server);
  const realtime = attachRealtime({
    server,
    auth: options.auth,
    subscriber: redis.subscriber,
    keyPrefix: options.keyPrefix,
    logger: testLogger(),
    ...(options.realtime ? { options: options.realtime } : {}),
  });
  await realtime.subscribed;
  return {
    server,
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    realtime,
    redis,
    async close() {
      await realtime.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await redis.close();
    },
  };
}

/** A separate Redis connection publishing analytics updates, as another instance's invalidation service would. */
export class UpdatePublisher {
  private readonly connection: Redis;

  constructor(
    private readonly keyPrefix: string,
    url = TEST_REDIS_URL,
  ) {
    this.connection = new Redis(url, { maxRetriesPerRequest: 1 });
  }

  /** Publishes an update of `guildId` (default types ghosts, heatmap); resolves with the update sent. */
  async publish(guildId: string, types: AnalyticsType[] = ["ghosts", "heatmap"]): Promise<AnalyticsUpdate> {
    const update = { guildId, types, at: new Date().toISOString() };
    await this.connection.publish(analyticsUpdateChannel(this.keyPrefix), JSON.stringify(update));
    return update;
  }

  /** Publishes `count` updates of `guildId` in one pipeline (all six types, to make each frame as big as it gets). */
  async flood(guildId: string, count: number): Promise<void> {
    const pipeline = this.connection.pipeline();
    const raw = JSON.stringify({ guildId, types: ANALYTICS_TYPES, at: new Date().toISOString() });
    for (let i = 0; i < count; i += 1) pipeline.publish(analyticsUpdateChannel(this.keyPrefix), raw);
    await pipeline.exec();
  }

  /** Subscribers of the update channel across the Redis server (PUBSUB NUMSUB). */
  async channelSubscribers(): Promise<number> {
    const [, count] = (await this.connection.pubsub("NUMSUB", analyticsUpdateChannel(this.keyPrefix))) as [
      string,
      number,
    ];
    return Number(count);
  }

  async close(): Promise<void> {
    await this.connection.quit();
  }
}

/**
 * A WebSocket client written by hand on a raw TCP socket: it completes the handshake, then never reads again and
 * never answers pings, as a stalled or vanished browser tab would. Resolves once the server said 101.
 */
export async function openStalledSocket(port: number, key: string): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  await once(socket, "connect");
  socket.write(
    [
      "GET /ws HTTP/1.1",
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
      "Sec-WebSocket-Version: 13",
      `Authorization: Bearer ${key}`,
      "",
      "",
    ].join("\r\n"),
  );
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const [chunk] = (await once(socket, "data")) as [Buffer];
    head += chunk.toString("latin1");
  }
  if (!head.startsWith("HTTP/1.1 101")) throw new Error(`handshake refused: ${head.split("\r\n")[0]}`);
  socket.pause();
  return socket;
}

/** Sends a masked client text frame on a hand-made socket (e.g. a subscribe), as RFC 6455 requires of clients. */
export function writeClientFrame(socket: net.Socket, message: unknown): void {
  const payload = Buffer.from(JSON.stringify(message));
  if (payload.length > 125) throw new Error("writeClientFrame: payloads up to 125 bytes only");
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
}

/**
 * Sends an upgrade request with the request target `target` as is (no client library would send a malformed one)
 * on a raw TCP socket, and resolves with the status line and body the server answered before closing.
 */
export async function rawUpgradeRequest(port: number, target: string): Promise<{ statusLine: string; body: string }> {
  const socket = net.connect(port, "127.0.0.1");
  await once(socket, "connect");
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  const ended = once(socket, "close");
  socket.write(
    [
      `GET ${target} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
      "Sec-WebSocket-Version: 13",
      "",
      "",
    ].join("\r\n"),
  );
  await ended;
  const answer = Buffer.concat(chunks).toString("latin1");
  const [head = "", body = ""] = answer.split("\r\n\r\n", 2);
  return { statusLine: head.split("\r\n")[0] ?? "", body };
}
