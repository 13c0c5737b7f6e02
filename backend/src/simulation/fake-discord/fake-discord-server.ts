import { EventEmitter, once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import type { FakeGuild, FakeMemberRequest, FakeUser } from "./fake-discord-types.ts";
import { createFakeOAuth, type FakeOAuth, type FakeOAuthOptions } from "./fake-oauth.ts";
import { guildCreatePayload, readyPayload } from "./gateway-payloads.ts";
import { guildMembersChunks, memberRequestRateLimitedData, parseMemberRequest } from "./member-requests.ts";

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
  /** Answer op 8 REQUEST_GUILD_MEMBERS with GUILD_MEMBERS_CHUNK dispatches (default true); false never answers. */
  answerMemberRequests?: boolean;
  /** The first N op 8 requests get a RATE_LIMITED dispatch instead of chunks, as Discord sends (default 0). */
  rateLimitedMemberRequests?: number;
  /** `retry_after` in seconds of those RATE_LIMITED dispatches (default 0.05). */
  memberRequestRetryAfterSeconds?: number;
  /** Serve OAuth2 ("Log in with Discord") for a demo moderator (default: no OAuth2 endpoints). */
  oauth?: FakeOAuthOptions;
}

/** A running fake Discord: REST (`GET /api/v10/gateway/bot`) and a WebSocket gateway on one port. */
export interface FakeDiscord {
  /** REST base for discord.js's `rest.api` option, e.g. http://127.0.0.1:PORT/api. */
  readonly apiUrl: string;
  /** Browser-facing OAuth2 authorize page, e.g. http://127.0.0.1:PORT/oauth2/authorize. */
  readonly authorizeUrl: string;
  /** Test controls of the OAuth2 endpoints (undefined without the `oauth` option). */
  readonly oauth: FakeOAuth | undefined;
  readonly port: number;
  /** Tokens clients identified with, in order. */
  readonly identifyTokens: readonly string[];
  /** Op 8 REQUEST_GUILD_MEMBERS payloads received from ready clients, in order (answered or not). */
  readonly memberRequests: readonly FakeMemberRequest[];
  /** Clients that identified and received their guilds. */
  readyClientCount(): number;
  /** Resolves once a client has identified and received every GUILD_CREATE (at once if one already has). */
  waitForClient(timeoutMs?: number): Promise<void>;
  /** Sends a dispatch (op 0) of type `type` to every ready client; returns how many received it. */
  dispatch(type: string, data: unknown): number;
  /** Adds a guild (the bot joined it): GUILD_CREATE to every ready client, served to later clients too; returns receivers. */
  addGuild(guild: FakeGuild): number;
  /** Closes every gateway connection and the server. Idempotent. */
  close(): Promise<void>;
}

interface Session {
  socket: WebSocket;
  sequence: number;
  ready: boolean;
}

const GATEWAY = {
  HELLO: 10,
  IDENTIFY: 2,
  HEARTBEAT: 1,
  HEARTBEAT_ACK: 11,
  DISPATCH: 0,
  RESUME: 6,
  REQUEST_GUILD_MEMBERS: 8,
  INVALID_SESSION: 9,
} as const;

/** Starts a fake Discord that a real discord.js client can log in to and receive guild events from. */
export async function startFakeDiscord(options: FakeDiscordOptions): Promise<FakeDiscord> {
  const botUser = options.botUser ?? { id: "1000000000000000001", username: "spywatcher-bot", bot: true };
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 41_250;
  const sessions = new Set<Session>();
  const identifyTokens: string[] = [];
  const guilds = [...options.guilds];
  const memberRequests: FakeMemberRequest[] = [];
  let rateLimitsLeft = options.rateLimitedMemberRequests ?? 0;
  const events = new EventEmitter();
  let sessionCounter = 0;

  const oauth = options.oauth ? createFakeOAuth(options.oauth, () => guilds) : undefined;
  const http = createServer((req, res) => {
    if (!oauth?.handle(req, res)) handleRest(req, res);
  });
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

  function answerMemberRequest(session: Session, data: unknown): void {
    const request = parseMemberRequest(data);
    // Discord only serves member requests on an identified session, for a guild the bot is in.
    if (!session.ready || !request) return;
    memberRequests.push(request);
    const guild = guilds.find((candidate) => candidate.id === request.guildId);
    if (!guild || options.answerMemberRequests === false) return;
    if (rateLimitsLeft > 0) {
      rateLimitsLeft -= 1;
      sendDispatch(
        session,
        "RATE_LIMITED",
        memberRequestRateLimitedData(request, options.memberRequestRetryAfterSeconds ?? 0.05),
      );
      return;
    }
    for (const chunk of guildMembersChunks(guild, request)) sendDispatch(session, "GUILD_MEMBERS_CHUNK", chunk);
  }

  gateway.on("connection", (socket) => {
    const session: Session = { socket, sequence: 0, ready: false };
    sessions.add(session);
    socket.on("close", () => sessions.delete(session));
    socket.on("error", () => socket.terminate());
    send(session, { op: GATEWAY.HELLO, d: { heartbeat_interval: heartbeatIntervalMs } });
    socket.on("message", (raw) => {
      let message: { op?: number; d?: { token?: string } & Record<string, unknown> };
      try {
        message = JSON.parse(String(raw));
      } catch {
        return;
      }
      if (message.op === GATEWAY.HEARTBEAT) send(session, { op: GATEWAY.HEARTBEAT_ACK });
      else if (message.op === GATEWAY.RESUME) send(session, { op: GATEWAY.INVALID_SESSION, d: false });
      else if (message.op === GATEWAY.REQUEST_GUILD_MEMBERS) answerMemberRequest(session, message.d);
      else if (message.op === GATEWAY.IDENTIFY) {
        identifyTokens.push(String(message.d?.token ?? ""));
        sessionCounter += 1;
        sendDispatch(
          session,
          "READY",
          readyPayload({
            botUser,
            applicationId: botUser.id,
            guildIds: guilds.map((guild) => guild.id),
            sessionId: `fake-session-${sessionCounter}`,
            resumeUrl: gatewayUrl,
          }),
        );
        for (const guild of guilds) sendDispatch(session, "GUILD_CREATE", guildCreatePayload(guild));
        session.ready = true;
        events.emit("client-ready");
      }
    });
  });

  function dispatch(type: string, data: unknown): number {
    let receivers = 0;
    for (const session of sessions) {
      if (!session.ready) continue;
      sendDispatch(session, type, data);
      receivers += 1;
    }
    return receivers;
  }

  let closing: Promise<void> | undefined;
  return {
    apiUrl: `http://${host}:${port}/api`,
    authorizeUrl: `http://${host}:${port}/oauth2/authorize`,
    oauth: oauth?.controls,
    port,
    identifyTokens,
    memberRequests,
    readyClientCount: () => [...sessions].filter((session) => session.ready).length,
    async waitForClient(timeoutMs = 10_000) {
      if ([...sessions].some((session) => session.ready)) return;
      await once(events, "client-ready", { signal: AbortSignal.timeout(timeoutMs) });
    },
    dispatch,
    addGuild(guild) {
      guilds.push(guild);
      return dispatch("GUILD_CREATE", guildCreatePayload(guild));
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
