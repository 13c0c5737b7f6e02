import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceProcess } from "../support/service-process.ts";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");
/** A build of its own (never a stale dist/), removed afterwards. */
const OUT = path.join(ROOT, ".test-tmp", `build-${process.pid}`);

describe("npm run build: the service and the CLI run with plain node (no tsx)", () => {
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    // The build script itself (what `npm run build` runs), into a directory of this test.
    await run(process.execPath, ["scripts/build.mjs", "--out-dir", OUT], { cwd: ROOT });
  }, 120_000);
  afterAll(async () => {
    await service?.kill();
    rmSync(OUT, { recursive: true, force: true });
  });

  it("the CLI's --help", async () => {
    const { stdout } = await run(process.execPath, [path.join(OUT, "backend/src/cli/spywatcher.js"), "--help"], {
      cwd: ROOT,
    });
    expect(stdout).toMatch(/^Usage: spywatcher/);
    expect(stdout).toContain("migrate");
  });

  it("the service: applies migrations from the build, answers /health/ready, stops cleanly on SIGTERM", async () => {
    service = await ServiceProcess.start({
      nodeArgs: [path.join(OUT, "backend/src/main.js")],
      env: { MIGRATE_ON_START: "true" },
    });
    const migrations = service.logs(/migrations done/)[0]!;
    expect(Number(migrations.applied) + Number(migrations.alreadyApplied)).toBeGreaterThanOrEqual(4);
    const ready = await fetch(`${service.url}/health/ready`);
    expect(ready.status).toBe(200);
    const exit = await service.stop();
    expect(exit.code).toBe(0);
    expect(service.logs(/service stopped/)).toHaveLength(1);
  });
});
