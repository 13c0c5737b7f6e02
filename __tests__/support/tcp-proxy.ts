import { once } from "node:events";
import net from "node:net";
import { blackHole } from "./black-hole-server.ts";

/** What the proxy does with traffic: forward it, refuse it (RST), or swallow it silently. */
export type ProxyMode = "pass" | "cut" | "black-hole";

interface ProxiedPair {
  client: net.Socket;
  upstream: net.Socket;
  /** True once the pair was black-holed: its bytes are dropped for good, in both directions. */
  swallowed: boolean;
}

/**
 * A TCP proxy a test owns in front of a real server (here PostgreSQL), with three modes:
 * - `restore()` (pass): forwards every byte.
 * - `cut()`: closes the listener and destroys every proxied connection, exactly what clients see when the database
 *   goes away (RST on open connections, ECONNREFUSED on new ones).
 * - `blackHole()`: packets are dropped silently, nothing is ever reset: open connections stay open and every byte in
 *   either direction vanishes; new connections are accepted and never answered (the shared black-hole server on the
 *   same port). After `restore()` new connections work again; a connection that was black-holed stays silent forever
 *   (a firewall or NAT that lost the flow), so only a client-side timeout or keepalive can free it.
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private hole: { close(): Promise<void> } | undefined;
  private readonly pairs = new Set<ProxiedPair>();
  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    public port: number,
  ) {}

  /** Starts a proxy on a free loopback port forwarding to `targetHost:targetPort`. */
  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort, 0);
    await proxy.restore();
    return proxy;
  }

  /** The current mode. */
  get mode(): ProxyMode {
    if (this.server) return "pass";
    return this.hole ? "black-hole" : "cut";
  }

  /** Connections currently proxied (black-holed ones included). */
  get openConnections(): number {
    return this.pairs.size;
  }

  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string {
    return pointAtLoopbackPort(url, this.port);
  }

  /** Forwards again (listens on the proxy's port): new connections reach the target. */
  async restore(): Promise<void> {
    if (this.server) return;
    await this.closeHole();
    const server = net.createServer((client) => this.forward(client));
    server.listen(this.port, "127.0.0.1");
    await once(server, "listening");
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and destroys every open connection: the database is "gone". */
  async cut(): Promise<void> {
    await this.closeHole();
    this.closeListener();
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Drops every byte from now on without resetting anything (see the class doc). */
  async blackHole(): Promise<void> {
    if (this.hole) return;
    for (const pair of this.pairs) swallow(pair);
    this.closeListener();
    this.hole = await blackHole(this.port);
  }

  /** Cuts and releases the port (end of test). */
  async close(): Promise<void> {
    await this.cut();
  }

  private forward(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, this.targetHost);
    const pair: ProxiedPair = { client, upstream, swallowed: false };
    this.pairs.add(pair);
    client
      .on("error", () => undefined)
      .on("close", () => {
        upstream.destroy();
        this.pairs.delete(pair);
      });
    upstream
      .on("error", () => undefined)
      .on("close", () => {
        // A black-holed client never learns that the server side went away.
        if (pair.swallowed) return;
        client.destroy();
        this.pairs.delete(pair);
      });
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private closeListener(): void {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    // Stops listening at once; close()'s callback would wait for every proxied connection, black-holed ones included.
    server.close();
  }

  private async closeHole(): Promise<void> {
    const hole = this.hole;
    this.hole = undefined;
    await hole?.close();
  }
}

/** Stops forwarding a pair: what either side sends from now on is read and thrown away. */
function swallow(pair: ProxiedPair): void {
  pair.swallowed = true;
  pair.client.unpipe(pair.upstream);
  pair.upstream.unpipe(pair.client);
  // Keep reading so the sender's writes complete (as on a network that accepts and loses packets).
  pair.client.on("data", () => undefined);
  pair.upstream.on("data", () => undefined);
}

/** `url` (a database or Redis URL) with its host and port replaced by 127.0.0.1:`port` (a proxy in front of it). */
export function pointAtLoopbackPort(url: string, port: number): string {
  const rewritten = new URL(url);
  rewritten.hostname = "127.0.0.1";
  rewritten.port = String(port);
  return rewritten.toString();
}
