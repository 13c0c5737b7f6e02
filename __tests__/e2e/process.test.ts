import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../helpers/redis-server.ts";
import { TEST_DATABASE_URL, TEST_REDIS_URL } from "../helpers/test-env.ts";

const root = path.resolve(import.meta.dirname, "../..");
const children: ChildProcess[] = [];

/** Runs the service's real entry point (what `npm start` runs) as a child process. */
function startProcess(env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", "backend/src/main.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH, DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  return { child, output: () => output };
}

/** Resolves when a line matching `pattern` has been printed. */
async function waitForOutput(child: ChildProcess, output: () => string, pattern: RegExp): Promise<void> {
  while (!pattern.test(output())) {
    if (child.exitCode !== null) throw new Error(`process exited early:\n${output()}`);
    await Promise.race([once(child.stdout!, "data"), once(child, "exit")]);
  }
}

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  }
});

describe("the service process", () => {
  it("exits non-zero naming the variable when PORT is invalid", async () => {
    const { child, output } = startProcess({ PORT: "abc" });
    const [code] = await once(child, "exit");
    expect(code).not.toBe(0);
    expect(output()).toMatch(/PORT/);
  });

  it("exits non-zero naming DATABASE_URL when it is malformed", async () => {
    const { child, output } = startProcess({ DATABASE_URL: "not-a-url" });
    const [code] = await once(child, "exit");
    expect(code).not.toBe(0);
    expect(output()).toMatch(/DATABASE_URL/);
  });

  it("starts twice in a row on the same database, is ready, and stops cleanly on SIGTERM", async () => {
    for (let run = 0; run < 2; run += 1) {
      const port = await freePort();
      const { child, output } = startProcess({ PORT: String(port), HOST: "127.0.0.1" });
      await waitForOutput(child, output, /http server listening/);
      const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { checks: Record<string, { status: string }> };
      expect(body.checks.redis?.status).toBe("up");
      expect(body.checks.postgres?.status).toBe("up");
      child.kill("SIGTERM");
      const [code] = await once(child, "exit");
      expect(code).toBe(0);
      expect(output()).toMatch(/service stopped/);
    }
  });
});
