/** Total hash slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16_384;

/** One line of `CLUSTER NODES`: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`. */
export interface ClusterNodeEntry {
  /** The 40-character node id. */
  id: string;
  /** The client port (0 when the node has no known address). */
  port: number;
  /** Flags such as `myself`, `master`, `slave`, `fail?`, `fail`, `handshake`, `noaddr`. */
  flags: string[];
  /** The id of the master this node replicates, or undefined for a master. */
  masterId: string | undefined;
  /** Number of slots this node serves (importing/migrating markers are not counted). */
  slotCount: number;
}

/** Parses the text of `CLUSTER NODES` into entries. */
export function parseClusterNodes(text: string): ClusterNodeEntry[] {
  return text
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => {
      const [id = "", address = "", flags = "", masterId = "-", , , , , ...slots] = line.trim().split(" ");
      const port = Number(address.split("@")[0]?.split(":").pop() || 0);
      return {
        id,
        port,
        flags: flags.split(","),
        masterId: masterId === "-" ? undefined : masterId,
        slotCount: countSlots(slots),
      };
    });
}

function countSlots(fields: string[]): number {
  let count = 0;
  for (const field of fields) {
    // "[slot->-id]" and "[slot-<-id]" mark a migration in progress, not a slot served.
    if (field.startsWith("[")) continue;
    const [from, to = from] = field.split("-").map(Number);
    count += to! - from! + 1;
  }
  return count;
}

/** The roles every live node agrees on. */
export interface ClusterTopology {
  /** Ports of the masters, ascending. */
  masters: number[];
  /** Replica port -> port of the master it replicates. */
  replicaOf: Map<number, number>;
}

/** What `agreedTopology` needs: each live node's own `CLUSTER NODES` text, and the ports of nodes known dead. */
export interface TopologyViews {
  /** Live node port -> its `CLUSTER NODES` output. */
  views: Map<number, string>;
  /** Ports of nodes this harness killed (they must be flagged failed and serve no slots). */
  deadPorts: Set<number>;
  /** How many masters a settled cluster has (3 for the harness: promotions keep the count). */
  expectedMasters: number;
}

/**
 * The topology when every live node sees the same one and it is settled: every live node known to every other
 * (no handshake, no failure flag), dead nodes flagged `fail` and serving nothing, no node outside this cluster,
 * `expectedMasters` live masters serving all 16,384 slots and every other live node a replica of a live master.
 * Otherwise a string saying what is not settled yet.
 */
export function agreedTopology({ views, deadPorts, expectedMasters }: TopologyViews): ClusterTopology | string {
  const livePorts = new Set(views.keys());
  let agreed: { signature: string; from: number; topology: ClusterTopology } | undefined;
  for (const [viewer, text] of views) {
    const entries = parseClusterNodes(text);
    const problem = viewProblem(viewer, entries, livePorts, deadPorts);
    if (problem) return problem;
    const topology = topologyOf(entries, livePorts);
    const signature = signatureOf(entries, livePorts);
    if (!agreed) agreed = { signature, from: viewer, topology };
    // Gossip spreads a role change (e.g. CLUSTER REPLICATE) one ping at a time: views differ until it has reached all.
    else if (signature !== agreed.signature) return `node ${viewer} and node ${agreed.from} disagree on the topology`;
  }
  if (!agreed) return "no live node";
  const { topology } = agreed;
  if (topology.masters.length !== expectedMasters) {
    return `${topology.masters.length} masters serve slots, expected ${expectedMasters}`;
  }
  return topology;
}

/** What is wrong with one node's view on its own, or "". */
function viewProblem(
  viewer: number,
  entries: ClusterNodeEntry[],
  livePorts: Set<number>,
  deadPorts: Set<number>,
): string {
  const seen = new Set<number>();
  let slots = 0;
  for (const entry of entries) {
    if (entry.flags.includes("handshake")) return `node ${viewer} is still in a handshake with ${entry.port}`;
    const failed = entry.flags.includes("fail") || entry.flags.includes("noaddr");
    if (livePorts.has(entry.port)) {
      if (failed || entry.flags.includes("fail?")) return `node ${viewer} flags live node ${entry.port} as failing`;
      if (seen.has(entry.port)) return `node ${viewer} lists port ${entry.port} twice`;
      seen.add(entry.port);
      slots += entry.slotCount;
    } else if (deadPorts.has(entry.port) || entry.flags.includes("noaddr")) {
      // A killed node stays listed; a failover is complete only once it is flagged failed and owns nothing.
      if (!failed) return `node ${viewer} does not yet flag dead node ${entry.port || entry.id} as failed`;
      if (entry.slotCount > 0) return `node ${viewer} still sees dead node ${entry.port} serving slots`;
    } else {
      // A port that is neither ours-and-alive nor ours-and-killed means two clusters met: never a usable cluster.
      return `node ${viewer} knows node ${entry.port}, which is not part of this cluster`;
    }
  }
  for (const port of livePorts) if (!seen.has(port)) return `node ${viewer} does not know node ${port} yet`;
  const byId = new Map(entries.map((entry) => [entry.id, entry]));
  for (const entry of entries.filter((candidate) => livePorts.has(candidate.port))) {
    // A slotless master is a node whose CLUSTER REPLICATE has not reached this viewer yet (or never happened).
    if (entry.flags.includes("master") && entry.slotCount === 0)
      return `node ${viewer} sees ${entry.port} as a master without slots`;
    const master = byId.get(entry.masterId ?? "");
    if (entry.flags.includes("slave") && !(master && livePorts.has(master.port) && master.flags.includes("master"))) {
      return `node ${viewer} sees ${entry.port} replicating a node that is not a live master`;
    }
  }
  if (slots !== CLUSTER_SLOTS) return `node ${viewer} sees ${slots} of ${CLUSTER_SLOTS} slots served by live masters`;
  return "";
}

function topologyOf(entries: ClusterNodeEntry[], livePorts: Set<number>): ClusterTopology {
  const live = entries.filter((entry) => livePorts.has(entry.port));
  const portOf = new Map(entries.map((entry) => [entry.id, entry.port]));
  const masters = live
    .filter((entry) => entry.flags.includes("master"))
    .map((entry) => entry.port)
    .sort((a, b) => a - b);
  const replicaOf = new Map<number, number>();
  for (const entry of live) {
    if (entry.flags.includes("slave")) replicaOf.set(entry.port, portOf.get(entry.masterId ?? "") ?? 0);
  }
  return { masters, replicaOf };
}

/** One line per live node, sorted: port, id, role, and its master's port or its slot count; equal when views agree. */
function signatureOf(entries: ClusterNodeEntry[], livePorts: Set<number>): string {
  const portOf = new Map(entries.map((entry) => [entry.id, entry.port]));
  return entries
    .filter((entry) => livePorts.has(entry.port))
    .map((entry) =>
      entry.flags.includes("master")
        ? `${entry.port} ${entry.id} master ${entry.slotCount}`
        : `${entry.port} ${entry.id} replica-of ${portOf.get(entry.masterId ?? "") ?? "?"}`,
    )
    .sort()
    .join("\n");
}
