import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import type net from "node:net";
import { promisify } from "node:util";
import { Cluster, type ClusterOptions } from "ioredis";
import {
  BUS_PORT_OFFSET,
  holdBusPort,
  killClusterNode,
  startClusterNode,
  withClusterNode,
  type ClusterNodeProcess,
} from "./redis-cluster-node.ts";
import { agreedTopology, parseClusterNodes, type ClusterTopology } from "./redis-cluster-topology.ts";

const execFileAsync = promisify(execFile);

/** Options of `startRedisCluster`. */
export interface RedisClusterOptions {
  /** `cluster-node-timeout` in ms (default 5,000 as in FACTS.md; tests that kill a master may pass less). */
  nodeTimeoutMs?: number;
  /**
   * `cluster-require-full-coverage` of every node (default true, Redis's default). False: the production setting
   * docs/cache-resilience.md asks for, so live masters serve their slots while a failed one's are uncovered.
   */
  requireFullCoverage?: boolean;
  /** How long to wait for the cluster to form and settle, and the default wait of masters()/waitUntilHealthy() (default 30,000 ms). */
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
  /**
   * SIGKILLs a master (the given port, or the lowest current master port) and waits for its process to exit; its
   * bus port stays held by the test process until stop(), so no other cluster's node can move onto its address.
   */
  killMaster(port?: number): Promise<number>;
  /**
   * SIGSTOPs a master (the given port, or the lowest current master port): its connections stay open and nothing
   * answers, as a hung host. `thaw(port)` resumes it; stop() kills it either way.
   */
  freezeMaster(port?: number): Promise<number>;
  /** SIGCONTs a frozen node. */
  thaw(port: number): void;
  /** The client port of a replica of the master on `masterPort` (the one that takes over when it fails). */
  replicaOf(masterPort: number): Promise<number>;
  /** Resolves with performance.now() once the node on `port` says it is a master (ROLE), polling every 10 ms. */
  waitForPromotion(port: number, timeoutMs?: number): Promise<number>;
  /**
   * How many client connections of the node on `port` are subscribed to a channel (CLIENT LIST `sub=`): ioredis puts
   * a cluster connection's subscriber on a random node, and a test that freezes a node may need it elsewhere.
   */
  subscribers(port: number): Promise<number>;
  /**
   * Resolves once every live node reports `cluster_state:ok`, all live nodes agree on who is master and replica
   * (3 masters serving every slot, killed nodes flagged failed) and every live replica's link to its master is up.
   */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  /** Closes the clients, kills every node and removes the temp dirs. Safe to call twice. */
  stop(): Promise<void>;
}

const NODE_COUNT = 6;
const MASTER_COUNT = 3;

/**
 * Starts six redis-server child processes (not daemonized, so the test owns them) on free ports whose bus ports
 * (port + 10,000) are free too, joins them with `redis-cli --cluster create --cluster-replicas 1`, and resolves
 * once the cluster has settled (see waitUntilHealthy).
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
  const killOnExit = () => {
    for (const node of processes) if (node.alive) node.child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off("exit", killOnExit);
    for (const client of clients) client.disconnect();
    await Promise.all(processes.map((node) => killClusterNode(node)));
    await Promise.all(heldBusPorts.map((server) => new Promise((resolve) => server.close(resolve))));
    await Promise.all(processes.map((node) => rm(node.dir, { recursive: true, force: true })));
  };

  try {
    const started = await Promise.allSettled(
      Array.from({ length: NODE_COUNT }, () => startClusterNode(nodeTimeoutMs, options.requireFullCoverage ?? true)),
    );
    for (const result of started) if (result.status === "fulfilled") processes.push(result.value);
    const failed = started.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    const nodes = processes.map((node) => `127.0.0.1:${node.port}`);
    await execFileAsync("redis-cli", ["--cluster", "create", ...nodes, "--cluster-replicas", "1", "--cluster-yes"], {
      timeout: readyTimeoutMs,
    });
    await announceReplicas(processes);
    const liveNodes = () => processes.filter((node) => node.alive);
    const deadPorts = () => new Set(processes.filter((node) => !node.alive).map((node) => node.port));
    const settled = (timeoutMs: number) => waitForSettledCluster(liveNodes, deadPorts, timeoutMs);
    const waitUntilHealthy = async (timeoutMs = readyTimeoutMs) => {
      await settled(timeoutMs);
    };
    const masters = async (): Promise<number[]> => (await settled(readyTimeoutMs)).masters;
    // redis-cli returns once it has sent CLUSTER REPLICATE; until every node has heard of each new replica (see
    // announceReplicas), one of them may still call a replica a master, so "ready" means all views agree.
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
        await killClusterNode(processes.find((node) => node.port === target)!);
        const held = await holdBusPort(target + BUS_PORT_OFFSET);
        if (held) heldBusPorts.push(held);
        return target;
      },
      async freezeMaster(port?: number) {
        const current = await masters();
        const target = port ?? current[0];
        if (target === undefined || !current.includes(target)) {
          throw new Error(`port ${String(port)} is not a live master (masters: ${current.join(", ")})`);
        }
        processes.find((node) => node.port === target)!.child.kill("SIGSTOP");
        return target;
      },
      thaw(port: number) {
        processes.find((node) => node.port === port)?.child.kill("SIGCONT");
      },
      async replicaOf(masterPort: number) {
        const id = await withClusterNode(masterPort, async (redis) => String(await redis.call("CLUSTER", "MYID")));
        const lines = await withClusterNode(
          masterPort,
          async (redis) => (await redis.call("CLUSTER", "REPLICAS", id)) as string[],
        );
        const port = parseClusterNodes(lines.join("\n")).find((entry) => entry.port > 0)?.port;
        if (port === undefined) throw new Error(`master ${masterPort} has no replica`);
        return port;
      },
      async waitForPromotion(port: number, timeoutMs = readyTimeoutMs) {
        const deadline = performance.now() + timeoutMs;
        // No event says a replica took over: poll its ROLE, over one connection. Fault tests measure the service's
        // throughput while this runs on the same 2 cores; a new connection per poll (100 a second, each with
        // ioredis's INFO ready check) took CPU from the service and the load generator in exactly that window.
        return withClusterNode(port, async (redis) => {
          for (;;) {
            const role = await redis.call("ROLE").then(
              (reply) => (reply as unknown[])[0],
              () => undefined,
            );
            if (role === "master") return performance.now();
            if (performance.now() > deadline) throw new Error(`node ${port} was not promoted within ${timeoutMs} ms`);
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        });
      },
      subscribers(port: number) {
        return withClusterNode(port, async (redis) => {
          const list = String(await redis.call("CLIENT", "LIST"));
          return list.split("\n").filter((line) => /\bsub=[1-9]/.test(line)).length;
        });
      },
      waitUntilHealthy,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Makes every replica tell every other node at once that it is a replica. redis-cli returns once it has sent
 * CLUSTER REPLICATE, and the other nodes would learn the new role only from the replica's next ping (up to
 * node-timeout / 2 later). A CLUSTER MEET from the replica to a node it already knows sends that node a MEET
 * whose header carries the replica's role, which the node applies; the replica then drops the duplicate
 * handshake. Best effort: settling is still checked by waitForSettledCluster, gossip covers any MEET refused here.
 */
async function announceReplicas(nodes: ClusterNodeProcess[]): Promise<void> {
  await Promise.all(
    nodes.map(async (replica) => {
      try {
        await withClusterNode(replica.port, async (redis) => {
          if (!(await redis.info("replication")).includes("role:slave")) return;
          for (const other of nodes) {
            if (other === replica) continue;
            await redis.call("CLUSTER", "MEET", "127.0.0.1", String(other.port), String(other.port + BUS_PORT_OFFSET));
          }
        });
      } catch {
        // Only a speed-up: an unreachable node or a refused MEET leaves the roles to ordinary gossip.
      }
    }),
  );
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
        const [info, replication, clusterNodes] = await withClusterNode(node.port, (redis) =>
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
