import type { Cluster, Redis } from "ioredis";
import { nodeId, slotOwners } from "../cache/transport/ioredis-internals.ts";
import { withTimeout } from "../lib/with-timeout.ts";
import type { HealthProbe } from "./health-check.ts";

/** One master as `/health/ready` shows it: named by its slot ranges (no host or port: the body is public). */
export interface MasterState {
  slots: string;
  status: "up" | "down";
  /** `cluster_state` as this master reports it (CLUSTER INFO), when it answered. */
  clusterState?: string;
  error?: string;
}

/**
 * The Redis check on a cluster (issue 14): every master the client knows gets `CLUSTER INFO`, in parallel, each
 * bounded by `perMasterTimeoutMs` (under the check's own timeout, so a frozen master is reported as down instead of
 * timing the whole check out). Up when every master answers with `cluster_state:ok`; degraded (the service still
 * serves, the cache bypasses that master's keys) when some master is down or reports another state; down when no
 * master answers. Each master's state is in `details.masters`. The same cluster state gives the same answer every
 * time: no master is picked at random (a PING on the cluster connection went to a random one and flapped).
 */
export function redisClusterProbe(cluster: Cluster, perMasterTimeoutMs: number): () => Promise<HealthProbe> {
  return async () => {
    const masters = cluster.nodes("master");
    if (masters.length === 0) throw new Error(`no master is known (connection status: ${cluster.status})`);
    const ranges = slotRanges(cluster);
    const states = await Promise.all(
      masters.map((node) => masterState(node, ranges.get(nodeId(node)) ?? "none", perMasterTimeoutMs)),
    );
    states.sort((a, b) => firstSlot(a.slots) - firstSlot(b.slots));
    const details = { masters: states };
    const down = states.filter((state) => state.status === "down");
    if (down.length === states.length)
      throw Object.assign(new Error(`every master is down (${states.length})`), { details });
    const notOk = states.filter((state) => state.status === "up" && state.clusterState !== "ok");
    if (down.length > 0 || notOk.length > 0) {
      const parts = [
        ...(down.length > 0
          ? [`${down.length} of ${states.length} masters down (slots ${down.map((state) => state.slots).join(", ")})`]
          : []),
        ...(notOk.length > 0
          ? [`cluster_state ${[...new Set(notOk.map((state) => state.clusterState))].join(", ")}`]
          : []),
      ];
      return { status: "degraded", message: parts.join("; "), details };
    }
    return { details };
  };
}

async function masterState(node: Redis, slots: string, timeoutMs: number): Promise<MasterState> {
  try {
    const info = String(await withTimeout(node.call("CLUSTER", "INFO"), timeoutMs, "CLUSTER INFO"));
    return { slots, status: "up", clusterState: /cluster_state:(\w+)/.exec(info)?.[1] ?? "unknown" };
  } catch (error) {
    // Only the kind of failure: messages of ioredis name the node's address.
    const timedOut = error instanceof Error && error.name === "TimeoutError";
    return { slots, status: "down", error: timedOut ? `no answer within ${timeoutMs} ms` : "not reachable" };
  }
}

/** "host:port" -> its slot ranges from the client's slot map, e.g. "0-5460" or "0-100,200-300". */
function slotRanges(cluster: Cluster): Map<string, string> {
  const ranges = new Map<string, [number, number][]>();
  slotOwners(cluster).forEach((owners, slot) => {
    const owner = owners?.[0];
    if (owner === undefined) return;
    const list = ranges.get(owner) ?? [];
    const last = list[list.length - 1];
    if (last && last[1] === slot - 1) last[1] = slot;
    else list.push([slot, slot]);
    ranges.set(owner, list);
  });
  return new Map(
    [...ranges].map(([owner, list]) => [
      owner,
      list.map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(","),
    ]),
  );
}

function firstSlot(slots: string): number {
  const first = Number.parseInt(slots, 10);
  return Number.isNaN(first) ? Number.MAX_SAFE_INTEGER : first;
}
