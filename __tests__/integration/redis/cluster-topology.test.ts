import { describe, expect, it } from "vitest";
import { agreedTopology, parseClusterNodes, type ClusterTopology } from "../../support/redis-cluster-topology.ts";

/** A node as one line of CLUSTER NODES describes it. */
interface NodeLine {
  port: number;
  flags: string;
  master?: number;
  slots?: string;
}

const idOf = (port: number) => port.toString(16).padStart(40, "0");

/** The CLUSTER NODES text `viewer` would print for `lines` (its own line gets `myself`). */
function view(viewer: number, lines: NodeLine[]): string {
  return lines
    .map(({ port, flags, master, slots }) =>
      [
        idOf(port),
        `127.0.0.1:${port}@${port + 10_000}`,
        port === viewer ? `myself,${flags}` : flags,
        master === undefined ? "-" : idOf(master),
        "0",
        "1700000000000",
        "1",
        "connected",
        ...(slots ? [slots] : []),
      ].join(" "),
    )
    .join("\n")
    .concat("\n");
}

/** Three masters on 1-3 with all slots, replicas 4 -> 1, 5 -> 2, 6 -> 3. */
const settled: NodeLine[] = [
  { port: 1, flags: "master", slots: "0-5460" },
  { port: 2, flags: "master", slots: "5461-10922" },
  { port: 3, flags: "master", slots: "10923-16383" },
  { port: 4, flags: "slave", master: 1 },
  { port: 5, flags: "slave", master: 2 },
  { port: 6, flags: "slave", master: 3 },
];
const livePorts = [1, 2, 3, 4, 5, 6];

/** Every live port's view, each the same `lines` unless `overrides` gives a port its own. */
function views(lines: NodeLine[], ports = livePorts, overrides: Record<number, NodeLine[]> = {}): Map<number, string> {
  return new Map(ports.map((port) => [port, view(port, overrides[port] ?? lines)]));
}

function topology(result: ClusterTopology | string): ClusterTopology {
  if (typeof result === "string") throw new Error(`expected a topology, got: ${result}`);
  return result;
}

describe("parseClusterNodes", () => {
  it("reads id, port, flags, master and counts slot ranges, single slots and not migration markers", () => {
    const [entry] = parseClusterNodes(
      `${idOf(7)} 127.0.0.1:7000@17000,host-a myself,master - 0 0 3 connected 0-99 200 [300->-${idOf(8)}]\n`,
    );
    expect(entry).toEqual({
      id: idOf(7),
      port: 7000,
      flags: ["myself", "master"],
      masterId: undefined,
      slotCount: 101,
    });
    const [replica] = parseClusterNodes(view(0, [{ port: 9, flags: "slave", master: 7 }]));
    expect(replica).toMatchObject({ port: 9, flags: ["slave"], masterId: idOf(7), slotCount: 0 });
  });
});

describe("agreedTopology", () => {
  const agreed = (map: Map<number, string>, dead: number[] = []) =>
    agreedTopology({ views: map, deadPorts: new Set(dead), expectedMasters: 3 });

  it("returns the masters and who replicates whom when all six views agree", () => {
    const result = topology(agreed(views(settled)));
    expect(result.masters).toEqual([1, 2, 3]);
    expect([...result.replicaOf]).toEqual([
      [4, 1],
      [5, 2],
      [6, 3],
    ]);
  });

  it("is not settled while one node still sees a replica as a slotless master (CLUSTER REPLICATE not gossiped yet)", () => {
    const stale = settled.map((line) => (line.port === 5 ? { port: 5, flags: "master" } : line));
    expect(agreed(views(settled, livePorts, { 1: stale }))).toMatch(/node 1 sees 5 as a master without slots/);
  });

  it("is not settled when every node still sees six masters (the view right after redis-cli returned)", () => {
    const unreplicated = settled.map(({ port, flags, slots }) =>
      flags === "slave" ? { port, flags: "master" } : { port, flags, slots },
    );
    expect(agreed(views(unreplicated))).toMatch(/master without slots/);
  });

  it("is not settled when two views disagree on which master a replica follows", () => {
    const swapped = settled.map((line) => (line.port === 4 ? { ...line, master: 2 } : line));
    expect(agreed(views(settled, livePorts, { 6: swapped }))).toMatch(/node \d and node \d disagree/);
  });

  it("refuses a view that knows a node of another cluster", () => {
    const met = [...settled, { port: 99, flags: "master", slots: "" }];
    expect(agreed(views(settled, livePorts, { 3: met }))).toMatch(
      /node 3 knows node 99, which is not part of this cluster/,
    );
  });

  it("is not settled while a node is in a handshake or flags a live node as possibly failing", () => {
    const handshake = [...settled.slice(0, 5), { port: 6, flags: "handshake" }];
    expect(agreed(views(settled, livePorts, { 2: handshake }))).toMatch(/handshake/);
    const suspect = settled.map((line) => (line.port === 3 ? { ...line, flags: "master,fail?" } : line));
    expect(agreed(views(settled, livePorts, { 4: suspect }))).toMatch(/node 4 flags live node 3 as failing/);
  });

  it("after master 2 was killed: settled only once 2 is flagged failed without slots and 5 serves its slots", () => {
    const alive = [1, 3, 4, 5, 6];
    const promoted: NodeLine[] = [
      settled[0]!,
      { port: 2, flags: "master,fail" },
      settled[2]!,
      settled[3]!,
      { port: 5, flags: "master", slots: "5461-10922" },
      settled[5]!,
    ];
    const result = topology(agreed(views(promoted, alive), [2]));
    expect(result.masters).toEqual([1, 3, 5]);
    expect([...result.replicaOf]).toEqual([
      [4, 1],
      [6, 3],
    ]);

    const suspected = settled.map((line) => (line.port === 2 ? { ...line, flags: "master,fail?" } : line));
    expect(agreed(views(suspected, alive), [2])).toMatch(/does not yet flag dead node 2 as failed/);
    const failedNotPromoted = settled.map((line) => (line.port === 2 ? { ...line, flags: "master,fail" } : line));
    expect(agreed(views(failedNotPromoted, alive), [2])).toMatch(/still sees dead node 2 serving slots/);
  });

  it("is not settled when the live masters do not serve every slot or there are not three of them", () => {
    const gap = settled.map((line) => (line.port === 3 ? { ...line, slots: "10923-16000" } : line));
    expect(agreed(views(gap))).toMatch(/node 1 sees 16001 of 16384 slots served by live masters/);
    const two: NodeLine[] = [
      { port: 1, flags: "master", slots: "0-8191" },
      { port: 2, flags: "master", slots: "8192-16383" },
      { port: 3, flags: "slave", master: 1 },
    ];
    expect(agreed(views(two, [1, 2, 3]))).toBe("2 masters serve slots, expected 3");
  });
});
