import type { Server } from "node:http";
import type { Express } from "express";

/** Starts listening and resolves with the server once the port is bound (port 0 picks a free one). */
export function listen(app: Express, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once("listening", () => resolve(server));
    server.once("error", reject);
  });
}

/**
 * Stops accepting connections, lets in-flight requests finish for up to `drainTimeoutMs`,
 * then closes whatever connections remain.
 */
export async function closeServer(server: Server, drainTimeoutMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), drainTimeoutMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}

/** Port the server is bound to. */
export function boundPort(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("server is not listening on TCP");
  return address.port;
}
