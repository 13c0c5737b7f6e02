import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { freePort, spawnRedisServer } from "./redis-server.ts";

/** One cluster-enabled redis-server child process of the harness. */
export interface ClusterNodeProcess {
  /** Its client port (the cluster bus listens on port + BUS_PORT_OFFSET). */
  port: number;
  /** Its own temp dir (nodes.conf). */
  dir: string;
  /** The child process. */
  child: ChildProcess;
  /** False once the process has exited. */
  alive: boolean;
}

/** Redis Cluster's bus port is the client port plus this. */
export const BUS_PORT_OFFSET = 10_000;
const START_ATTEMPTS = 20;

/** Starts one cluster-enabled node; retries on new ports when another process took the chosen ones first. */
export async function startClusterNode(nodeTimeoutMs: number, requireFullCoverage = true): Promise<ClusterNodeProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt += 1) {
    const port = await freePort();
    // The bus port must be a valid port and free as well; otherwise draw another.
    if (port + BUS_PORT_OFFSET > 65_535 || !(await isPortFree(port + BUS_PORT_OFFSET))) continue;
    const dir = await mkdtemp(path.join(tmpdir(), `spywatcher-cluster-${port}-`));
    const child = spawnRedisServer(port, [
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      "nodes.conf",
      "--cluster-node-timeout",
      String(nodeTimeoutMs),
      // "no": while a failed master's slots are uncovered, the other masters keep serving theirs (Redis's
      // default "yes" answers CLUSTERDOWN for every key until the failover ends; docs/cache-resilience.md).
      "--cluster-require-full-coverage",
      requireFullCoverage ? "yes" : "no",
      // Replicas sync at once: the default waits 5 s for more replicas before a diskless full sync.
      "--repl-diskless-sync-delay",
      "0",
      "--dir",
      dir,
    ]);
    const node: ClusterNodeProcess = { port, dir, child, alive: true };
    child.once("exit", () => {
      node.alive = false;
    });
    try {
      await waitUntilAnswering(node, 10_000);
      return node;
    } catch (error) {
      // Most likely another process bound the port (or its bus port) between our check and redis-server's bind.
      lastError = error;
      await killClusterNode(node);
      await rm(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`could not start a cluster node after ${START_ATTEMPTS} attempts`, { cause: lastError });
}

async function isPortFree(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** SIGKILLs the node (if still running) and waits for its process to exit. */
export async function killClusterNode(node: ClusterNodeProcess): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) {
    node.alive = false;
    return;
  }
  const exited = once(node.child, "exit");
  node.child.kill("SIGKILL");
  await exited;
  node.alive = false;
}

/** Polls until our node answers on its port; fails at once if the process exits (e.g. its port was taken). */
async function waitUntilAnswering(node: ClusterNodeProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    if (!node.alive) throw new Error(`redis-server on ${node.port} exited during start-up`, { cause: lastError });
    try {
      const info = await withClusterNode(node.port, (redis) => redis.info("server"));
      // Whoever answers must be our own child: another process may own this port while ours is failing to bind.
      if (info.includes(`process_id:${node.child.pid}\r\n`)) return;
      lastError = new Error(`another process answers on port ${node.port}`);
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`redis-server on ${node.port} did not answer`, { cause: lastError });
    // No event tells us a port started listening: poll with a short back-off.
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** Runs `fn` on a short-lived single-node connection that fails fast instead of retrying. */
export async function withClusterNode<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: 1_000,
    protocol: 2,
  });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/**
 * Listens on a killed node's bus port so that no node of another cluster (another test file starting one now) can
 * start on the dead node's port: our nodes keep pinging that bus port, and a PONG carrying a foreign node id makes
 * them flag the dead node `noaddr`, which Redis never marks as failing, so its replica would never take over.
 * Connections are closed at once, which looks like a dead node to our nodes. Resolves undefined if another process
 * took the port in the moment since the kill.
 */
export async function holdBusPort(port: number): Promise<net.Server | undefined> {
  const server = net.createServer((socket) => socket.destroy());
  return new Promise((resolve) => {
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}
