import { once } from "node:events";
import net from "node:net";

/**
 * A TCP server on `port` that accepts connections and never answers (a hung PostgreSQL or Redis, as seen from a
 * client: connected, no replies). `close()` destroys the connections it holds and stops listening.
 */
export async function blackHole(port: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined).on("close", () => sockets.delete(socket));
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  return {
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
