import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { afterEach, describe, expect, it, vi } from "vitest";
import { freePort } from "../support/redis-server.ts";
import { TEST_DATABASE_URL, TEST_REDIS_URL, testSpillDir, uniquePrefix } from "../support/test-env.ts";

/** Messages plus typing events of a guild since `since`, straight from PostgreSQL. */
async function countActivity(guildId: string, since: string): Promise<number> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT ((SELECT count(*) FROM message_events WHERE guild_id = $1 AND created_at >= $2)
             + (SELECT count(*) FROM typing_events WHERE guild_id = $1 AND started_at >= $2))::int AS n`,
      [guildId, since],
    );
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

const root = path.resolve(import.meta.dirname, "../..");
const children: ChildProcess[] = [];

/** Runs the service's real entry point (what `npm start` runs) as a child process. */
function startProcess(env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", "backend/src/main.ts"], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      LOG_LEVEL: "info",
      INGEST_SPILL_DIR: testSpillDir(),
      ...env,
    },
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
      const { child, output } = startProcess({ PORT: String(port), HOST: "127.0.0.1", DISCORD_ENABLED: "false" });
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

describe("the run command without a Discord token", () => {
  it("streams a simulated guild through the real bot and serves live, freshly invalidated analytics", async () => {
    const port = await freePort();
    const prefix = uniquePrefix("sim");
    const adminKey = `sw_e2e_${prefix}_${"x".repeat(24)}`;
    const updates = new Redis(TEST_REDIS_URL, { protocol: 2 });
    try {
      // Invalidations are announced on pub/sub: the test awaits them instead of sleeping.
      const received: { guildId: string; types: string[] }[] = [];
      let notify: (() => void) | undefined;
      updates.on("message", (_channel, message: string) => {
        received.push(JSON.parse(message));
        notify?.();
      });
      await updates.subscribe(`${prefix}:analytics:update`);
      const nextUpdate = (guildId: string, type: string) =>
        new Promise<void>((resolve) => {
          const start = received.length;
          notify = () => {
            if (received.slice(start).some((u) => u.guildId === guildId && u.types.includes(type))) resolve();
          };
        });

      const { child, output } = startProcess({
        PORT: String(port),
        HOST: "127.0.0.1",
        REDIS_KEY_PREFIX: prefix,
        ADMIN_API_KEY: adminKey,
        SIMULATION_EVENTS_PER_SECOND: "300",
        INVALIDATION_COALESCE_MS: "200",
        REDIS_COMMAND_TIMEOUT_MS: "1500",
      });
      await waitForOutput(child, output, /SIMULATED DISCORD/);
      const guildId = /"guildIds":\["(\d+)"/.exec(output())?.[1];
      expect(guildId).toMatch(/^\d{17,20}$/);
      await waitForOutput(child, output, /http server listening/);

      const get = (type: string) =>
        fetch(`http://127.0.0.1:${port}/api/analytics/${type}?guildId=${guildId}&since=15m`, {
          headers: { authorization: `Bearer ${adminKey}` },
        });
      await nextUpdate(guildId!, "heatmap");
      const first = await get("heatmap");
      expect(first.status).toBe(200);
      const firstBody = (await first.json()) as { items: { messageCount: number; typingCount: number }[] };
      expect(firstBody.items.length).toBeGreaterThan(0);

      const again = await get("heatmap");
      expect(again.headers.get("x-cache")).toBe("HIT");

      // New activity arrives, is written, and softly invalidates heatmap for this guild (the default mode): within a
      // bounded time reads reflect at least every row that was durable when the invalidation was announced (the
      // cache recomputes at the bump; meanwhile a read is STALE, or a MISS past the soft bound on a slow machine).
      const since = ((await again.json()) as { window: { since: string } }).window.since;
      await nextUpdate(guildId!, "heatmap");
      const durable = await countActivity(guildId!, since);
      const total = (body: typeof firstBody) => body.items.reduce((n, i) => n + i.messageCount + i.typingCount, 0);
      const seen: string[] = [];
      await vi.waitFor(
        async () => {
          const response = await get("heatmap");
          seen.push(String(response.headers.get("x-cache")));
          expect(total((await response.json()) as typeof firstBody)).toBeGreaterThanOrEqual(durable);
        },
        { timeout: 3_000, interval: 20 },
      );
      expect(seen).not.toContain("BYPASS");

      child.kill("SIGTERM");
      const [code] = await once(child, "exit");
      expect(code).toBe(0);
      expect(output()).toMatch(/discord side stopped/);
      expect(output()).not.toContain(adminKey);
    } finally {
      updates.disconnect();
    }
  });
});
