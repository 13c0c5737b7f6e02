import { once } from "node:events";
import net from "node:net";
import { pointAtLoopbackPort } from "../../support/tcp-proxy.ts";

/**
 * A TCP proxy in front of PostgreSQL that loses ONE reply after the server has committed: once armed, the first
 * connection whose client sends a statement containing `pattern` has the server's answer held back until the
 * server's ReadyForQuery ('Z', sent only after the implicit transaction committed) arrives, and then both sides
 * are destroyed without the client seeing any of it. Exactly a connection cut between COMMIT and the reply.
 */
export class LostReplyProxy {
  /** Replies lost so far. */
  cuts = 0;
  private armedPattern: string | undefined;
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Starts a proxy on a free loopback port forwarding to `targetHost:targetPort`. */
  static async start(targetHost: string, targetPort: number): Promise<LostReplyProxy> {
    let proxy: LostReplyProxy | undefined;
    const server = net.createServer((client) => proxy!.pipe(client, net.connect(targetPort, targetHost)));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    proxy = new LostReplyProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string {
    return pointAtLoopbackPort(url, this.port);
  }

  /** Loses the reply of the next statement whose text contains `pattern`. */
  arm(pattern: string): void {
    this.armedPattern = pattern;
  }

  /** Closes the listener and every proxied connection. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pipe(client: net.Socket, upstream: net.Socket): void {
    this.sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    let tail = "";
    let held: Buffer | undefined;
    client.on("data", (chunk: Buffer) => {
      const pattern = this.armedPattern;
      if (pattern && held === undefined) {
        // The previous chunk's last pattern.length-1 characters: a pattern split across two chunks is still seen,
        // while a whole pattern from an earlier statement cannot be.
        const window = tail + chunk.toString("latin1");
        tail = window.slice(-(pattern.length - 1));
        if (window.includes(pattern)) {
          this.armedPattern = undefined;
          held = Buffer.alloc(0);
        }
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (held === undefined) {
        client.write(chunk);
        return;
      }
      // node-postgres sends a statement only after the previous ReadyForQuery, so the held bytes start at a
      // message boundary: walk the messages (type byte + int32 length) until the ReadyForQuery.
      held = Buffer.concat([held, chunk]);
      for (let offset = 0; offset + 5 <= held.length; offset += 1 + held.readInt32BE(offset + 1)) {
        if (held[offset] === 0x5a) {
          this.cuts += 1;
          end();
          return;
        }
      }
    });
  }
}
