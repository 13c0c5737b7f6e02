import { EventEmitter, once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import type { FakeGuild, FakeUser } from "./fake-discord-types.ts";
import { guildCreatePayload, readyPayload } from "./gateway-payloads.ts";

/** Options of a fake Discord. */
export interface FakeDiscordOptions {
  /** Guilds sent to every client after READY. */
  guilds: FakeGuild[];
  /** The bot's own user (default id 1000000000000000001, "spywatcher-bot"). */
  botUser?: FakeUser;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: a free one). */
  port?: number;
  /** Heartbeat interval announced in HELLO (default 41,250 ms, Discord's). */
  heartbeatIntervalMs?: number;
}

/** A running fake Discord: REST (`GET /api/v10/gateway/bot`) and a WebSocket gateway on one port. */
export interface FakeDiscord {
  /** REST base for discord.js's `rest.api` option, e.g. http://127.0.0.1:PORT/api. */
  readonly apiUrl: string;
  readonly port: number;
  /** Tokens clients identified with, in order. */
  readonly identifyTokens: readonly string[];
  /** Clients that identified and received their guilds. */
  readyClientCount(): number;
  /** Resolves once a client has identified and received every GUILD_CREATE (at once if one already has). */
  waitForClient(timeoutMs?: number): Promise<void>;
  /** Sends a dispatch (op 0) of type `type` to every ready client; returns how many received it. */
  dispatch(type: string, data: unknown): number;
  /** Closes every gateway connection and the server. Idempotent. */
  close(): Promise<void>;
}

interface Session {
  socket: WebSocket;
  sequence: number;
  ready: boolean;
}

const GATEWAY = { HELLO: 10, IDENTIFY: 2, HEARTBEAT: 1, HEARTBEAT_ACK: 11, DISPATCH: 0, RESUME: 6, INVALID_SESSION: 9 } as const;

/** Starts a fake Discord that a real discord.js client can log in to and receive guild events from. */
export async function startFakeDiscord(options: FakeDiscordOptions): Promise<FakeDiscord> {
  const botUser = options.botUser ?? { id: "1000000000000000001", username: "spywatcher-bot", bot: true };
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 41_250;
  const sessions = new Set<Session>();
  const identifyTokens: string[] = [];
  const events = new EventEmitter();
  let sessionCounter = 0;

  const http = createServer((req, res) => handleRest(req, res));
  const gateway = new WebSocketServer({ server: http });
  http.listen(options.port ?? 0, options.host ?? "127.0.0.1");
  await once(http, "listening");
  const port = (http.address() as AddressInfo).port;
  const host = options.host ?? "127.0.0.1";
  const gatewayUrl = `ws://${host}:${port}`;

  function handleRest(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/api/v10/gateway/bot") {
      sendJson(res, 200, {
        url: gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 1000, reset_after: 86_400_000, max_concurrency: 1 },
      });
      return;
    }
    // SpyWatcher's listeners make no REST calls; anything else is a bug worth seeing in a test.
    sendJson(res, 404, { message: `fake discord: no route ${req.method} ${path}`, code: 0 });
  }

  function send(session: Session, payload: Record<string, unknown>): void {
    if (session.socket.readyState === WebSocket.OPEN) session.socket.send(JSON.stringify(payload));
  }

  function sendDispatch(session: Session, type: string, data: unknown): void {
    // discord.js tracks `s` for heartbeats and resumes: it must increase on every dispatch.
    session.sequence += 1;
    send(session, { op: GATEWAY.DISPATCH, t: type, s: session.sequence, d: data });
  }

  gateway.on("connection", (socket) => {
    const session: Session = { socket, sequence: 0, ready: false };
    sessions.add(session);
    socket.on("close", () => sessions.delete(session));
    socket.on("error", () => socket.terminate());
    send(session, { op: GATEWAY.HELLO, d: { heartbeat_interval: heartbeatIntervalMs } });
    socket.on("message", (raw) => {
      let message: { op?: number; d?: { token?: string } };
      try {
        message = JSON.parse(String(raw));
      } catch {
        return;
      }
      if (message.op === GATEWAY.HEARTBEAT) send(session, { op: GATEWAY.HEARTBEAT_ACK });
      else if (message.op === GATEWAY.RESUME) send(session, { op: GATEWAY.INVALID_SESSION, d: false });
      else if (message.op === GATEWAY.IDENTIFY) {
        identifyTokens.push(String(message.d?.token ?? ""));
        sessionCounter += 1;
        sendDispatch(
          session,
          "READY",
          readyPayload({
            botUser,
            applicationId: botUser.id,
            guildIds: options.guilds.map((guild) => guild.id),
            sessionId: `fake-session-${sessionCounter}`,
            resumeUrl: gatewayUrl,
          }),
        );
        for (const guild of options.guilds) sendDispatch(session, "GUILD_CREATE", guildCreatePayload(guild));
        session.ready = true;
        events.emit("client-ready");
      }
    });
  });

  let closing: Promise<void> | undefined;
  return {
    apiUrl: `http://${host}:${port}/api`,
    port,
    identifyTokens,
    readyClientCount: () => [...sessions].filter((session) => session.ready).length,
    async waitForClient(timeoutMs = 10_000) {
      if ([...sessions].some((session) => session.ready)) return;
      await once(events, "client-ready", { signal: AbortSignal.timeout(timeoutMs) });
    },
    dispatch(type, data) {
      let receivers = 0;
      for (const session of sessions) {
        if (!session.ready) continue;
        sendDispatch(session, type, data);
        receivers += 1;
      }
      return receivers;
    },
    close() {
      closing ??= (async () => {
        for (const session of sessions) session.socket.terminate();
        await new Promise<void>((resolve) => gateway.close(() => resolve()));
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
      })();
      return closing;
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
