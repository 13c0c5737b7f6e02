import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { Command, InvalidArgumentError } from "commander";
import pg from "pg";
import { assertLoopback } from "../lib/bench-redis.ts";
import { formatTable } from "../lib/table.ts";

/**
 * HTTP pipeline benchmark (issue 9): a cached analytic (`GET /api/analytics/ghosts`, an X-Cache HIT) served by the
 * real service process (`backend/src/main.ts`, logging at warn, rate limit off, bot off) against a bare Express 5
 * endpoint in its own process returning the same bytes. Rounds alternate (bare, service, bare, ...) with the same
 * autocannon settings, so a change of machine load hits both; the ratio of the summed throughputs and of the
 * median p99 is printed with PASS/FAIL against the targets (>= 0.8x throughput, p99 <= 1.5x). It also prints the
 * CPU time each server process spent per answered request (from /proc/<pid>/stat): on a machine shared with other
 * work, throughput follows whatever CPU the scheduler grants, while CPU per request stays the cost of the pipeline.
 *
 *   npm run bench:http -- [--rounds 4] [--seconds 5] [--connections 50]
 *
 * Env: BENCH_HTTP_PROFILE=<dir> (a CPU profile of the service), BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/spywatcher_bench_http, created and migrated
 * by the service if missing), BENCH_REDIS_URL (default redis://127.0.0.1:6379/13). Exit 0 when both targets pass.
 */
const positive = (value: string): number => {
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) throw new InvalidArgumentError("must be a positive integer");
  return number;
};
const flags = new Command("bench:http")
  .option("--rounds <n>", "measured rounds per endpoint (alternating)", positive, 4)
  .option("--seconds <s>", "length of one round", positive, 5)
  .option("--connections <n>", "keep-alive connections of autocannon", positive, 50)
  .option("--users <n>", "ghost users in the analytic (sets the body size; 15 gives about 1.4 kB)", positive, 15)
  .parse()
  .opts<{ rounds: number; seconds: number; connections: number; users: number }>();

const TARGET_THROUGHPUT = 0.8;
const TARGET_P99 = 1.5;
const ADMIN_KEY = "bench-http-admin-key-0123456789abcdef";
const GUILD_ID = "100000000000000042";
const databaseUrl = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/spywatcher_bench_http";
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/13";
assertLoopback(redisUrl);
if (!["127.0.0.1", "localhost"].includes(new URL(databaseUrl).hostname))
  throw new Error("BENCH_DATABASE_URL must be on loopback");

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  server.close();
  return port;
}

function startChild(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  // Node's own flags (e.g. --cpu-prof) go before the script.
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  return { child, output: () => output };
}

async function waitFor(check: () => boolean, what: string, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`${what} did not happen within ${timeoutMs} ms:\n${output().slice(-3_000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Typing without messages for `users` users in the last hour: a ghosts body of about 95 bytes per user. */
async function insertGhosts(users: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("DELETE FROM typing_events WHERE guild_id = $1", [GUILD_ID]);
    for (let user = 0; user < users; user += 1) {
      await client.query(
        "INSERT INTO typing_events (guild_id, channel_id, user_id, started_at) SELECT $1, '200000000000000001', $2, now() - (g * interval '1 second') FROM generate_series(1, $3) g",
        [GUILD_ID, String(300000000000000000n + BigInt(user)), 1 + user],
      );
    }
  } finally {
    await client.end();
  }
}

/** User + system CPU of a process in ms (Linux /proc; 0 where it cannot be read). */
function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the command name, in clock ticks (100/s).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

interface Round {
  /** CPU ms the server process spent per 1,000 answered requests. */
  cpuMsPerThousand: number;
  requestsPerSecond: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

async function round(url: string, headers: Record<string, string>, seconds: number, pid?: number): Promise<Round> {
  const cpuBefore = cpuMs(pid);
  const result = await autocannon({ url, connections: flags.connections, duration: seconds, headers });
  const answered = Math.max(1, result.requests.total);
  return {
    cpuMsPerThousand: ((cpuMs(pid) - cpuBefore) * 1_000) / answered,
    requestsPerSecond: result.requests.average,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

async function main(): Promise<number> {
  const loadBefore = loadavg();
  const port = await freePort();
  // BENCH_HTTP_PROFILE=<dir>: the service writes a V8 CPU profile there when it stops (open it in Chrome DevTools).
  const profile = process.env.BENCH_HTTP_PROFILE
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_HTTP_PROFILE}`]
    : [];
  const service = startChild([...profile, "backend/src/main.ts"], {
    PATH: process.env.PATH,
    NODE_ENV: "production",
    SPYWATCHER_DEMO: "false",
    HOST: "127.0.0.1",
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: "bench_http",
    MIGRATE_ON_START: "true",
    DISCORD_ENABLED: "false",
    LOG_LEVEL: "warn",
    RATE_LIMIT_PER_MINUTE: "0",
    ADMIN_API_KEY: ADMIN_KEY,
  });
  const serviceUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`${serviceUrl}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (service.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`service did not start:\n${service.output().slice(-3_000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await insertGhosts(flags.users);
  const headers = { authorization: `Bearer ${ADMIN_KEY}` };
  const analyticUrl = `${serviceUrl}/api/analytics/ghosts?guildId=${GUILD_ID}&since=24h`;
  // Clear whatever an earlier run cached under this prefix for this guild, then fill the entry.
  await fetch(`${serviceUrl}/api/admin/cache/invalidate`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ tags: [`guild:${GUILD_ID}`] }),
  });
  await fetch(analyticUrl, { headers });
  const hit = await fetch(analyticUrl, { headers });
  const body = await hit.text();
  if (hit.status !== 200 || hit.headers.get("x-cache") !== "HIT")
    throw new Error(
      `expected a cached 200, got ${hit.status} X-Cache ${hit.headers.get("x-cache")}: ${body.slice(0, 300)}`,
    );

  const bodyFile = path.join(mkdtempSync(path.join(tmpdir(), "bench-http-")), "body.json");
  writeFileSync(bodyFile, body);
  const bare = startChild(["bench/http/bare-endpoint.ts", bodyFile], {
    PATH: process.env.PATH,
    NODE_ENV: "production",
  });
  await waitFor(() => /"port":\d+/.test(bare.output()), "bare endpoint listening", 30_000, bare.output);
  const bareUrl = `http://127.0.0.1:${JSON.parse(bare.output().trim().split("\n")[0]!).port}/`;

  console.log(
    `body ${Buffer.byteLength(body)} bytes; ${flags.rounds} rounds of ${flags.seconds} s each, ${flags.connections} connections; load before ${loadBefore.map((l) => l.toFixed(2)).join(" ")}`,
  );
  // One warm-up round each (JIT, connection pools), not counted.
  await round(bareUrl, {}, 2);
  await round(analyticUrl, headers, 2);
  const bareRounds: Round[] = [];
  const serviceRounds: Round[] = [];
  for (let index = 0; index < flags.rounds; index += 1) {
    // Alternate which goes first, so neither always gets the quieter half of a pair.
    const order = index % 2 === 0 ? (["bare", "service"] as const) : (["service", "bare"] as const);
    for (const which of order) {
      if (which === "bare") bareRounds.push(await round(bareUrl, {}, flags.seconds, bare.child.pid));
      else serviceRounds.push(await round(analyticUrl, headers, flags.seconds, service.child.pid));
    }
  }
  const sum = (rounds: Round[], pick: (round: Round) => number) => rounds.reduce((total, r) => total + pick(r), 0);
  const bareRps = sum(bareRounds, (r) => r.requestsPerSecond) / bareRounds.length;
  const serviceRps = sum(serviceRounds, (r) => r.requestsPerSecond) / serviceRounds.length;
  const bareP99 = median(bareRounds.map((r) => r.p99Ms));
  const serviceP99 = median(serviceRounds.map((r) => r.p99Ms));
  const throughputRatio = serviceRps / bareRps;
  const p99Ratio = serviceP99 / Math.max(bareP99, 1);
  const failures = sum(serviceRounds, (r) => r.non2xx + r.errors) + sum(bareRounds, (r) => r.non2xx + r.errors);

  console.log(
    formatTable(
      [
        "round",
        "bare req/s",
        "service req/s",
        "bare p99 ms",
        "service p99 ms",
        "bare CPU ms/1k req",
        "service CPU ms/1k req",
      ],
      bareRounds.map((r, i) => [
        String(i + 1),
        r.requestsPerSecond.toFixed(0),
        serviceRounds[i]!.requestsPerSecond.toFixed(0),
        String(r.p99Ms),
        String(serviceRounds[i]!.p99Ms),
        r.cpuMsPerThousand.toFixed(0),
        serviceRounds[i]!.cpuMsPerThousand.toFixed(0),
      ]),
    ),
  );
  const throughputPass = throughputRatio >= TARGET_THROUGHPUT;
  const p99Pass = p99Ratio <= TARGET_P99;
  console.log(
    `throughput: service ${serviceRps.toFixed(0)} req/s vs bare ${bareRps.toFixed(0)} req/s = ${throughputRatio.toFixed(2)}x (target >= ${TARGET_THROUGHPUT}x) ${throughputPass ? "PASS" : "FAIL"}`,
  );
  console.log(
    `p99: service ${serviceP99} ms vs bare ${bareP99} ms = ${p99Ratio.toFixed(2)}x (target <= ${TARGET_P99}x; bare p99 floored at 1 ms) ${p99Pass ? "PASS" : "FAIL"}`,
  );
  const bareCpu = sum(bareRounds, (r) => r.cpuMsPerThousand) / bareRounds.length;
  const serviceCpu = sum(serviceRounds, (r) => r.cpuMsPerThousand) / serviceRounds.length;
  console.log(
    `CPU per request: service ${(serviceCpu / 1_000).toFixed(3)} ms vs bare ${(bareCpu / 1_000).toFixed(3)} ms = ${(bareCpu / Math.max(serviceCpu, 0.001)).toFixed(2)}x the bare endpoint's efficiency (informational)`,
  );
  console.log(
    `non-2xx or errors: ${failures}; load after ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );

  service.child.kill("SIGTERM");
  bare.child.kill("SIGTERM");
  await Promise.all([once(service.child, "exit"), once(bare.child, "exit")]);
  return throughputPass && p99Pass && failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
