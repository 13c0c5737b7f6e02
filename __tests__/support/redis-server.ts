import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { Redis } from "ioredis";

/** Asks the OS for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The one way tests and benches start a redis-server child: loopback only, no persistence, `extraArgs` appended
 * (e.g. cluster settings, `--rename-command`). Every child is SIGKILLed if the test process exits first.
 */
export function spawnRedisServer(port: number, extraArgs: string[] = []): ChildProcess {
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--loglevel",
      "warning",
      ...extraArgs,
    ],
    { stdio: "ignore" },
  );
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.off("exit", killOnExit));
  return child;
}

/** Options of `ThrowawayRedis.start`. */
export interface ThrowawayRedisOptions {
  /** Extra redis-server arguments, kept across restarts (default none). */
  args?: string[];
}

/**
 * A redis-server child process this test (or bench) owns: it can be frozen (SIGSTOP), thawed, killed (SIGKILL) and
 * started again on the same port.
 */
export class ThrowawayRedis {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly args: string[],
  ) {}

  /** Starts a redis-server on a free port and waits until it answers PING. */
  static async start(options: ThrowawayRedisOptions = {}): Promise<ThrowawayRedis> {
    const redis = new ThrowawayRedis(await freePort(), options.args ?? []);
    await redis.resume();
    return redis;
  }

  /** redis://127.0.0.1:<port>/0 */
  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** (Re)starts the server on its port and waits until it answers. */
  async resume(): Promise<void> {
    if (this.child) return;
    const child = spawnRedisServer(this.port, this.args);
    this.child = child;
    await waitUntilAnswering(this.port, child, 5_000);
  }

  /** Freezes the server (SIGSTOP): connections stay open, nothing answers. `thaw()` or `kill()` ends it. */
  freeze(): void {
    this.child?.kill("SIGSTOP");
  }

  /** Lets a frozen server run again (SIGCONT). */
  thaw(): void {
    this.child?.kill("SIGCONT");
  }

  /** Kills the server (SIGKILL: as abrupt as a crash; a frozen one too) and waits for the process to exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    child.kill("SIGCONT");
    await exited;
  }

  /** Same as `kill()`: leaves no process behind. */
  close(): Promise<void> {
    return this.kill();
  }
}

/** Polls until the server on `port` answers PING; fails at once if `child` exits first (e.g. its port was taken). */
async function waitUntilAnswering(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`redis-server on ${port} exited during start-up`);
    const probe = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    probe.on("error", () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`, { cause: error });
      // Polling a port that has no event to await: a short back-off between connection attempts.
      await new Promise((resolve) => setTimeout(resolve, 25));
    } finally {
      probe.disconnect();
    }
  }
}
