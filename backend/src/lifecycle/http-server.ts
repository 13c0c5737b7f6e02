import type { Server, ServerResponse } from "node:http";
import net from "node:net";
import type { Express } from "express";
import { answerClientErrorsAsJson } from "../http/client-error-response.ts";

/** Per server: whether it is draining, and the responses in progress (to tell their clients to close). */
interface DrainState {
  draining: boolean;
  inFlight: Set<ServerResponse>;
}

// Keyed by the server object, so the state lives and dies with it (no module-level state of its own).
const drainStates = new WeakMap<Server, DrainState>();

/**
 * How long idle keep-alive sockets stay open after the drain begins: a busy client sends its next request within it
 * and gets `Connection: close` with the answer; closing an idle socket at once races with a request already on the
 * way, which the client sees as ECONNRESET.
 */
const IDLE_GRACE_MS = 1_000;

/** What `closeServer` did. */
export interface DrainReport {
  /** Requests still in progress when the drain began. */
  inFlightAtStart: number;
  /** Connections closed by force when SHUTDOWN_TIMEOUT_MS ran out (requests still in progress then). */
  forcedConnections: number;
  tookMs: number;
}

/**
 * Starts listening and resolves with the server once the port is bound (port 0 picks a free one). Requests Node's
 * parser refuses are answered with JSON errors (see `answerClientErrorsAsJson`).
 */
export function listen(app: Express, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    answerClientErrorsAsJson(server);
    const state: DrainState = { draining: false, inFlight: new Set() };
    drainStates.set(server, state);
    // First listener of every request: while draining, the answer carries Connection: close, so a keep-alive client
    // opens its next request elsewhere instead of being served (or reset) on this socket until the process exits.
    server.prependListener("request", (_req, res: ServerResponse) => {
      if (state.draining) res.setHeader("connection", "close");
      state.inFlight.add(res);
      res.once("close", () => state.inFlight.delete(res));
    });
    server.once("listening", () => resolve(server));
    server.once("error", reject);
  });
}

/**
 * Drains the server: stops accepting connections, marks every answer not yet sent `Connection: close` (Node closes
 * each such connection after its answer), closes the keep-alive connections still idle after IDLE_GRACE_MS, lets
 * in-flight requests finish for up to `drainTimeoutMs`, then closes whatever connections remain.
 */
export async function closeServer(server: Server, drainTimeoutMs: number): Promise<DrainReport> {
  const started = performance.now();
  const state = drainStates.get(server);
  const inFlightAtStart = state?.inFlight.size ?? 0;
  if (!server.listening) return { inFlightAtStart, forcedConnections: 0, tookMs: 0 };
  if (state) {
    state.draining = true;
    for (const res of state.inFlight) if (!res.headersSent) res.setHeader("connection", "close");
  }
  // net.Server's close stops accepting and resolves once every connection is gone; http.Server's would also close
  // idle keep-alive sockets at once (see IDLE_GRACE_MS).
  const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
  const idle = setTimeout(() => server.closeIdleConnections(), Math.min(IDLE_GRACE_MS, drainTimeoutMs));
  idle.unref();
  let forcedConnections = 0;
  const timer = setTimeout(() => {
    forcedConnections = state?.inFlight.size ?? 0;
    server.closeAllConnections();
  }, drainTimeoutMs);
  timer.unref();
  await closed;
  clearTimeout(idle);
  clearTimeout(timer);
  return { inFlightAtStart, forcedConnections, tookMs: Math.round(performance.now() - started) };
}

/** Port the server is bound to. */
export function boundPort(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("server is not listening on TCP");
  return address.port;
}
