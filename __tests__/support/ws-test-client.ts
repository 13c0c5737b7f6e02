import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import { WebSocket, type ClientOptions } from "ws";
import type { ServerMessage } from "../../backend/src/realtime/realtime-protocol.ts";

/** How long a test waits for a frame that should come; a bound, not a sleep (the wait ends at the frame). */
const FRAME_TIMEOUT_MS = 10_000;

/** A real `ws` client that keeps every frame it receives, so a test can await the next one matching a predicate. */
export class TestSocket {
  /** Every frame received, in order. */
  readonly received: ServerMessage[] = [];
  /** Resolves with the close code and reason when the socket has closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly unread: ServerMessage[] = [];
  private readonly waiters: {
    match: (message: ServerMessage) => boolean;
    resolve: (message: ServerMessage) => void;
  }[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as ServerMessage;
      this.received.push(message);
      const index = this.waiters.findIndex((waiter) => waiter.match(message));
      if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(message);
      else this.unread.push(message);
    });
    this.closed = new Promise((resolve) =>
      socket.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  /** Opens a socket and resolves once the handshake completed. */
  static async open(url: string, options: ClientOptions & { key?: string } = {}): Promise<TestSocket> {
    const { key, ...rest } = options;
    const socket = new WebSocket(url, { ...rest, ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}) });
    const client = new TestSocket(socket);
    await once(socket, "open");
    return client;
  }

  /** Opens a socket that authenticates with an `auth` message and resolves after the `authenticated` answer. */
  static async withAuthMessage(url: string, key: string): Promise<TestSocket> {
    const client = await TestSocket.open(url);
    client.send({ type: "auth", key });
    await client.next((message) => message.type === "authenticated");
    return client;
  }

  /** Attempts an upgrade the server should refuse; resolves with the HTTP status and JSON body it answered. */
  static async refused(
    url: string,
    key?: string,
  ): Promise<{ status: number; body: { error: { code: string; message: string } } }> {
    return TestSocket.refusedWith(url, key === undefined ? {} : { authorization: key });
  }

  /** Attempts an upgrade with these headers that the server should refuse; resolves with its HTTP status and JSON body. */
  static async refusedWith(
    url: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; body: { error: { code: string; message: string } } }> {
    const socket = new WebSocket(url, { headers });
    socket.on("error", () => undefined);
    const [, response] = (await once(socket, "unexpected-response")) as [unknown, IncomingMessage];
    let body = "";
    for await (const chunk of response) body += String(chunk);
    socket.terminate();
    return { status: response.statusCode ?? 0, body: JSON.parse(body) };
  }

  /** Sends a JSON frame (or a raw string as is). */
  send(message: unknown): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** The next unread frame matching `match` (default: any), waiting for it if needed. */
  next(match: (message: ServerMessage) => boolean = () => true): Promise<ServerMessage> {
    const index = this.unread.findIndex(match);
    if (index >= 0) return Promise.resolve(this.unread.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`no matching frame within ${FRAME_TIMEOUT_MS} ms; received ${JSON.stringify(this.received)}`),
          ),
        FRAME_TIMEOUT_MS,
      );
      this.waiters.push({
        match,
        resolve: (message) => {
          clearTimeout(timer);
          resolve(message);
        },
      });
    });
  }

  /** Subscribes to `guildId` and resolves with the server's answer (`subscribed` or `error`). */
  async subscribe(guildId: string): Promise<ServerMessage> {
    this.send({ type: "subscribe", guildId });
    return this.next(
      (message) => (message.type === "subscribed" && message.guildId === guildId) || message.type === "error",
    );
  }

  /** The next `analytics:update` frame. */
  nextUpdate(): Promise<Extract<ServerMessage, { type: "analytics:update" }>> {
    return this.next((message) => message.type === "analytics:update") as Promise<
      Extract<ServerMessage, { type: "analytics:update" }>
    >;
  }

  /** Unread `analytics:update` frames so far. */
  unreadUpdates(): ServerMessage[] {
    return this.unread.filter((message) => message.type === "analytics:update");
  }

  /** Closes the socket and waits until it has closed. */
  async close(): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await this.closed;
  }
}
