import { fork, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";

/** A TypeScript child process run by tsx whose last stdout line is a JSON result. */
export interface BenchChild<T> {
  /** Resolves with the parsed last stdout line once the child exits 0; rejects otherwise. */
  result: Promise<T>;
  /** Kills the child if it is still running (safe to call at any time). */
  kill(): Promise<void>;
}

/** Starts `script` under tsx with `args`; it is killed if it runs past `timeoutMs`. */
export function startBenchChild<T>(script: string, args: string[], timeoutMs: number): BenchChild<T> {
  // tsx resolved from this file, so the bench also works when started from another directory.
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), script, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: process.env,
  });
  killOnExit(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const result = (async (): Promise<T> => {
    const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
    clearTimeout(timer);
    if (code !== 0) {
      throw new Error(`${script} exited with ${signal ?? code}: ${stderr.trim().slice(-2_000)}`);
    }
    const lastLine = stdout.trim().split("\n").at(-1) ?? "";
    return JSON.parse(lastLine) as T;
  })();
  return { result, kill: () => killChild(child) };
}

/**
 * Makes sure `child` does not outlive this process, even when it ends through `process.exit` (the run's
 * watchdog): an "exit" listener SIGKILLs it, and is removed once the child has exited on its own.
 */
export function killOnExit(child: ChildProcess): void {
  const kill = (): void => void child.kill("SIGKILL");
  process.once("exit", kill);
  child.once("exit", () => process.off("exit", kill));
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** A long-lived TypeScript child process that answers requests over the IPC channel, one at a time. */
export interface BenchWorker<Request, Reply> {
  /** Sends one request and resolves with the worker's reply; rejects if it exits or errs first. */
  ask(request: Request): Promise<Reply>;
  /** Disconnects the channel (the worker then closes and exits) and waits for the exit; kills it after 10 s. */
  close(): Promise<void>;
}

/**
 * Forks `script` under tsx with an IPC channel. The worker answers each message with one message: its reply, or
 * `{ error: string }`. Used where bulk work must happen outside the process that takes the measurement.
 */
export function forkBenchWorker<Request, Reply>(script: string, args: string[]): BenchWorker<Request, Reply> {
  const child = fork(script, args, {
    execArgv: ["--import", import.meta.resolve("tsx")],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  killOnExit(child);
  const exited = once(child, "exit");
  return {
    ask: (request) =>
      new Promise<Reply>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`${script} exited with ${code} before replying`));
        child.once("exit", onExit);
        child.once("message", (message: Reply | { error: string }) => {
          child.off("exit", onExit);
          if (message && typeof message === "object" && "error" in message) reject(new Error(message.error));
          else resolve(message as Reply);
        });
        child.send(request as object);
      }),
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
