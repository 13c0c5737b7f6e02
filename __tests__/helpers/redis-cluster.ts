import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Cluster, Redis, type ClusterOptions } from "ioredis";
import { agreedTopology, type ClusterTopology } from "./redis-cluster-topology.ts";
import { freePort } from "./redis-server.ts";

const execFileAsync = promisify(execFile);

/** Options of `startRedisCluster`. */
export interface RedisClusterOptions {
  /** `cluster-node-timeout` in ms (default 5,000 as in FACTS.md; tests that kill a master may pass less). */
  nodeTimeoutMs?: number;
  /** How long to wait for the cluster to form and report `cluster_state:ok` (default 30,000 ms). */
  readyTimeoutMs?: number;
}

/** A 6-node (3 masters, 3 replicas) Redis Cluster on loopback that the calling test owns. */
export interface RedisClusterHandle {
  /** Seed nodes as "127.0.0.1:port", all six. */
  nodes: string[];
  /** Opens an ioredis Cluster client on the seed nodes (RESP2 unless overridden); `stop()` closes it. */
  client(options?: ClusterOptions): Cluster;
  /** Ports of the masters (ascending) once every live node agrees on them; waits for that up to the ready timeout. */
  masters(): Promise<number[]>;
  /** SIGKILLs a master (the given port, or the first current master) and waits for its process to exit. */
  killMaster(port?: number): Promise<number>;
  /**
   * Resolves once every live node reports `cluster_state:ok`, all live nodes agree on who is master and replica
   * (3 masters serving every slot, killed nodes flagged failed) and every live replica's link to its master is up.
   */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  /** Closes the clients, kills every node and removes the temp dirs. Safe to call twice. */
  stop(): Promise<void>;
}

interface ClusterNodeProcess {
  port: number;
  dir: string;
  child: ChildProcess;
  alive: boolean;
}

const NODE_COUNT = 6;
const MASTER_COUNT = 3;
const BUS_PORT_OFFSET = 10_000;
const START_ATTEMPTS = 20;

/**
 * Starts six redis-server child processes (not daemonized, so the test owns them) on free ports whose bus ports
 * (port + 10,000) are free too, joins them with `redis-cli --cluster create --cluster-replicas 1`, and resolves
 * once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 5_000;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const processes: ClusterNodeProcess[] = [];
  const clients: Cluster[] = [];
  // Bus ports of killed nodes stay held by this process until stop(): see holdBusPort.
  const heldBusPorts: net.Server[] = [];
  let stopped = false;
  // If the test worker dies without calling stop(), still kill the children rather than leave them orphaned.
  const killOnExit = () => processes.forEach((node) => node.alive && node.child.kill("SIGKILL"));
  process.once("exit", killOnExit);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off("exit", killOnExit);
    for (const client of clients) client.disconnect();
    await Promise.all(processes.map((node) => killNode(node)));
    await Promise.all(heldBusPorts.map((server) => new Promise((resolve) => server.close(resolve))));
    await Promise.all(processes.map((node) => rm(node.dir, { recursive: true, force: true })));
  };

  try {
    const started = await Promise.allSettled(Array.from({ length: NODE_COUNT }, () => startNode(nodeTimeoutMs)));
    for (const result of started) if (result.status === "fulfilled") processes.push(result.value);
    const failed = started.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    const nodes = processes.map((node) => `127.0.0.1:${node.port}`);
    await execFileAsync("redis-cli", ["--cluster", "create", ...nodes, "--cluster-replicas", "1", "--cluster-yes"], {
      timeout: readyTimeoutMs,
    });
    const liveNodes = () => processes.filter((node) => node.alive);
    const deadPorts = () => new Set(processes.filter((node) => !node.alive).map((node) => node.port));
    const settled = (timeoutMs: number) => waitForSettledCluster(liveNodes, deadPorts, timeoutMs);
    const waitUntilHealthy = async (timeoutMs = readyTimeoutMs) => {
      await settled(timeoutMs);
    };
    const masters = async (): Promise<number[]> => (await settled(readyTimeoutMs)).masters;
    await waitUntilHealthy();

    return {
      nodes,
      client(clientOptions: ClusterOptions = {}) {
        const client = new Cluster(
          processes.map((node) => ({ host: "127.0.0.1", port: node.port })),
          { ...clientOptions, redisOptions: { protocol: 2, ...clientOptions.redisOptions } },
        );
        // Failover tests provoke connection errors on purpose; an unhandled 'error' event must not crash the worker.
        client.on("error", () => undefined);
        clients.push(client);
        return client;
      },
      masters,
      async killMaster(port?: number) {
        const current = await masters();
        const target = port ?? current[0];
        if (target === undefined || !current.includes(target)) {
          throw new Error(`port ${String(port)} is not a live master (masters: ${current.join(", ")})`);
        }
        await killNode(processes.find((node) => node.port === target)!);
        const held = await holdBusPort(target + BUS_PORT_OFFSET);
        if (held) heldBusPorts.push(held);
        return target;
      },
      waitUntilHealthy,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Starts one cluster-enabled node; retries on new ports when another process took the chosen ones first. */
async function startNode(nodeTimeoutMs: number): Promise<ClusterNodeProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt += 1) {
    const port = await freePort();
    // The bus port must be a valid port and free as well; otherwise draw another.
    if (port + BUS_PORT_OFFSET > 65_535 || !(await isPortFree(port + BUS_PORT_OFFSET))) continue;
    const dir = await mkdtemp(path.join(tmpdir(), `spywatcher-cluster-${port}-`));
    const child = spawn(
      "redis-server",
      [
        "--port", String(port),
        "--bind", "127.0.0.1",
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", String(nodeTimeoutMs),
        "--save", "",
        "--appendonly", "no",
        // Replicas sync at once: the default waits 5 s for more replicas before a diskless full sync.
        "--repl-diskless-sync-delay", "0",
        "--dir", dir,
        "--loglevel", "warning",
      ],
      { stdio: "ignore" },
    );
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
      await killNode(node);
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

async function killNode(node: ClusterNodeProcess): Promise<void> {
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
      const info = await withNode(node.port, (redis) => redis.info("server"));
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
async function withNode<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
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
 * Holds a killed node's bus port so that no node of another cluster (another test file starting one now) can
 * take that port: our nodes keep pinging it, and a PONG carrying a foreign node id makes them flag the dead node
 * `noaddr`, which Redis never marks as failing, so its replica would never take over. Connections are closed at
 * once, which looks like a dead node to our nodes. Resolves undefined if someone took the port in between.
 */
async function holdBusPort(port: number): Promise<net.Server | undefined> {
  const server = net.createServer((socket) => socket.destroy());
  return new Promise((resolve) => {
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

async function waitForSettledCluster(
  liveNodes: () => ClusterNodeProcess[],
  deadPorts: () => Set<number>,
  timeoutMs: number,
): Promise<ClusterTopology> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = "";
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    const result = await clusterState(liveNodes(), deadPorts());
    if (typeof result !== "string") return result;
    lastProblem = result;
    if (Date.now() > deadline) throw new Error(`cluster not settled within ${timeoutMs} ms: ${lastProblem}`);
    // Cluster state converges through gossip, which emits nothing we can await: poll with a short back-off.
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/**
 * The agreed topology when every live node says cluster_state:ok, every live replica is linked to its master and
 * all live nodes' CLUSTER NODES agree (see agreedTopology); else what is wrong.
 */
async function clusterState(nodes: ClusterNodeProcess[], deadPorts: Set<number>): Promise<ClusterTopology | string> {
  const views = new Map<number, string>();
  const problems = await Promise.all(
    nodes.map(async (node) => {
      try {
        const [info, replication, clusterNodes] = await withNode(node.port, (redis) =>
          Promise.all([
            redis.call("CLUSTER", "INFO") as Promise<string>,
            redis.info("replication"),
            redis.call("CLUSTER", "NODES") as Promise<string>,
          ]),
        );
        views.set(node.port, clusterNodes);
        if (!info.includes("cluster_state:ok")) return `node ${node.port} not ok`;
        // A replica that never synced refuses to fail over ("data too old"), so failover tests need linked replicas.
        if (replication.includes("role:slave") && !replication.includes("master_link_status:up")) {
          return `replica ${node.port} not linked to its master`;
        }
        return "";
      } catch (error) {
        return `node ${node.port}: ${(error as Error).message}`;
      }
    }),
  );
  const problem = problems.find(Boolean);
  if (problem) return problem;
  return agreedTopology({ views, deadPorts, expectedMasters: MASTER_COUNT });
}
