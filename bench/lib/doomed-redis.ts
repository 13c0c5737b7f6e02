import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { freePort } from "../../__tests__/support/redis-server.ts";
import { killOnExit } from "./child-process.ts";

/**
 * A redis-server child process on a free loopback port that a bench can make unreachable in two ways: `kill()`
 * (SIGKILL: connections are refused at once) or `freeze()` (SIGSTOP: connections stay open, nothing answers,
 * the harder case for timeouts). `close()` always leaves no process behind.
 */
export class DoomedRedis {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  /** Starts the server and resolves once it logs that it accepts connections. */
  static async start(): Promise<DoomedRedis> {
    const port = await freePort();
    const child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "notice"],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    killOnExit(child);
    // The line listener stays attached for the life of the process, which also keeps its log pipe drained.
    const lines = createInterface({ input: child.stdout! });
    const ready = new Promise<void>((resolve, reject) => {
      lines.on("line", (line) => line.includes("Ready to accept connections") && resolve());
      child.once("exit", (code) => reject(new Error(`redis-server on ${port} exited with ${code} before ready`)));
    });
    const timeout = setTimeout(() => child.kill("SIGKILL"), 10_000);
    try {
      await ready;
    } finally {
      clearTimeout(timeout);
    }
    return new DoomedRedis(child, port);
  }

  /** redis://127.0.0.1:<port>/0 */
  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Stops the process without closing its sockets: clients wait for replies that never come. */
  freeze(): void {
    this.child.kill("SIGSTOP");
  }

  /** Kills the process (as abrupt as a crash) and waits for it to exit. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit");
    this.child.kill("SIGKILL");
    await exited;
  }

  /** Same as `kill()`: SIGKILL also ends a frozen process. */
  close(): Promise<void> {
    return this.kill();
  }
}
