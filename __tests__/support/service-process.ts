import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { freePort } from "./redis-server.ts";
import { TEST_DATABASE_URL, TEST_REDIS_URL, testSpillDir, uniquePrefix } from "./test-env.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** One parsed pino log line of the service (`msg` plus whatever fields it carried). */
export type LogLine = { level: number; msg: string; time: number } & Record<string, unknown>;

/** How a stopped service process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From the signal to the exit. */
  tookMs: number;
}

/** Options of `startServiceProcess`. */
export interface ServiceProcessOptions {
  /** Environment overrides on top of the defaults (test database and Redis db, free port, Discord off, info logs). */
  env?: NodeJS.ProcessEnv;
  /** Longest wait for the "http server listening" line (default 30 s). */
  readyTimeoutMs?: number;
  /** Node arguments that run the entry point (default: `--import tsx backend/src/main.ts`, what `npm start` runs). */
  nodeArgs?: string[];
}

/**
 * The real service entry point (`backend/src/main.ts`, what `npm start` runs) as a child process on a free port.
 * Its stdout is pino JSON: `lines()` parses it, `waitForLog()` awaits a message. `signal()` sends SIGTERM (or
 * another signal) and resolves with the exit; `kill()` (SIGKILL) is the cleanup every test calls.
 */
export class ServiceProcess {
  private output = "";
  private readonly parsed: LogLine[] = [];
  private partial = "";
  private readonly exited: Promise<ProcessExit>;
  private signalledAt = 0;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    /** The REDIS_KEY_PREFIX the process uses (unique per process unless overridden). */
    readonly keyPrefix: string,
  ) {
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      this.output += chunk;
      this.parse(chunk);
    });
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (this.output += chunk));
    this.exited = once(child, "exit").then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
      tookMs: this.signalledAt ? performance.now() - this.signalledAt : 0,
    }));
  }

  /** Starts the process and resolves once it listens (it throws with the output if it exits first). */
  static async start(options: ServiceProcessOptions = {}): Promise<ServiceProcess> {
    const port = await freePort();
    const keyPrefix = options.env?.REDIS_KEY_PREFIX ?? uniquePrefix("faults");
    const child = spawn(process.execPath, options.nodeArgs ?? ["--import", "tsx", "backend/src/main.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: "test",
        HOST: "127.0.0.1",
        PORT: String(port),
        DATABASE_URL: TEST_DATABASE_URL,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: keyPrefix,
        MIGRATE_ON_START: "false",
        DISCORD_ENABLED: "false",
        LOG_LEVEL: "info",
        INGEST_SPILL_DIR: testSpillDir(),
        ...options.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const service = new ServiceProcess(child, port, keyPrefix);
    try {
      await service.waitForLog(/http server listening/, options.readyTimeoutMs ?? 30_000);
    } catch (error) {
      await service.kill();
      throw error;
    }
    return service;
  }

  /** Base URL, e.g. http://127.0.0.1:PORT. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Everything the process printed so far. */
  text(): string {
    return this.output;
  }

  /** The JSON log lines printed so far (other lines skipped). */
  lines(): LogLine[] {
    return this.parsed;
  }

  /** The log lines whose message matches `pattern`. */
  logs(pattern: RegExp): LogLine[] {
    return this.lines().filter((line) => pattern.test(line.msg));
  }

  /** Resolves with the first log line whose message matches `pattern`; rejects on exit or after `timeoutMs`. */
  async waitForLog(pattern: RegExp, timeoutMs = 30_000): Promise<LogLine> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.logs(pattern)[0];
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`service exited before logging ${pattern}:\n${this.output.slice(-4_000)}`);
      }
      const left = deadline - performance.now();
      if (left <= 0)
        throw new Error(`service did not log ${pattern} within ${timeoutMs} ms:\n${this.output.slice(-4_000)}`);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        once(this.child.stdout!, "data"),
        this.exited,
        new Promise((resolve) => (timer = setTimeout(resolve, left))),
      ]);
      clearTimeout(timer);
    }
  }

  /** Sends `signal` (default SIGTERM) and resolves when the process has exited, with its code and how long it took. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<ProcessExit> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.signalledAt = performance.now();
      this.child.kill(signal);
    }
    return this.exited;
  }

  /** Resolves when the process exits (on its own or after a signal). */
  exit(): Promise<ProcessExit> {
    return this.exited;
  }

  private parse(chunk: string): void {
    const text = this.partial + chunk;
    const lines = text.split("\n");
    this.partial = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith("{")) continue;
      try {
        this.parsed.push(JSON.parse(line) as LogLine);
      } catch {
        // Not a log line (something printed raw).
      }
    }
  }

  /** SIGKILL if still running; resolves once it is gone. Safe to call twice (cleanup). */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }
}
