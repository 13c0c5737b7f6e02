import net from "node:net";
import { Redis, type Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisCluster, type RedisClusterHandle } from "../../support/redis-cluster.ts";
import { uniquePrefix } from "../../support/test-env.ts";

/** The port of the master that serves `key`'s slot, from CLUSTER SLOTS. */
async function masterPortOf(client: Cluster, key: string): Promise<number> {
  const slot = (await client.call("CLUSTER", "KEYSLOT", key)) as number;
  const ranges = (await client.call("CLUSTER", "SLOTS")) as [number, number, [string, number, string]][];
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (!range) throw new Error(`no master serves slot ${slot}`);
  return range[2][1];
}

/** Role counts in the CLUSTER NODES of the node on `port`, read straight from Redis (not through the harness). */
async function rolesSeenBy(port: number): Promise<{ masters: number; replicas: number }> {
  const redis = new Redis({ port, host: "127.0.0.1", protocol: 2, lazyConnect: true, retryStrategy: () => null });
  try {
    await redis.connect();
    const lines = ((await redis.call("CLUSTER", "NODES")) as string).trim().split("\n");
    const flags = lines.map((line) => line.split(" ")[2]!.split(","));
    return {
      masters: flags.filter((f) => f.includes("master")).length,
      replicas: flags.filter((f) => f.includes("slave")).length,
    };
  } finally {
    redis.disconnect();
  }
}

/** Whether this process can listen on `port` right now. */
async function canListen(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Retries `fn` until it resolves or `timeoutMs` passes; returns how many attempts failed first. */
async function retryUntilSuccess(fn: () => Promise<unknown>, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let failures = 0;
  for (;;) {
    try {
      await fn();
      return failures;
    } catch (error) {
      failures += 1;
      if (Date.now() > deadline) throw error;
      // Failover has no event a client can await; each failed attempt already waited ~1 s in ioredis.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe("redis cluster harness", () => {
  let cluster: RedisClusterHandle;
  let client: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster({ nodeTimeoutMs: 2_000 });
    client = cluster.client();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it("starts six nodes, three of them masters", async () => {
    expect(cluster.nodes).toHaveLength(6);
    expect(new Set(cluster.nodes).size).toBe(6);
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    // Right after start-up every node, not just one, already knows the final roles (gossip has converged).
    const ports = cluster.nodes.map((node) => Number(node.split(":")[1]));
    for (const port of ports) expect(await rolesSeenBy(port)).toEqual({ masters: 3, replicas: 3 });
    expect(await client.set("hello", "world")).toBe("OK");
    expect(await client.get("hello")).toBe("world");
  });

  it("rejects a multi-key command across slots with CROSSSLOT, accepts one within a hash tag", async () => {
    const prefix = uniquePrefix("xslot");
    const [a, b] = [`${prefix}:a`, `${prefix}:b`];
    const slotA = await client.call("CLUSTER", "KEYSLOT", a);
    const slotB = await client.call("CLUSTER", "KEYSLOT", b);
    expect(slotA).not.toBe(slotB);
    await expect(client.call("MSET", a, "1", b, "2")).rejects.toThrow(/CROSSSLOT/);
    expect(await client.mset(`{${prefix}}:a`, "1", `{${prefix}}:b`, "2")).toBe("OK");
  });

  it("finds every key only by scanning every master", async () => {
    const prefix = uniquePrefix("scan");
    const keys = Array.from({ length: 200 }, (_, i) => `${prefix}:${i}`);
    await Promise.all(keys.map((key) => client.set(key, "x")));

    const perMaster: number[] = [];
    for (const node of client.nodes("master")) {
      let found = 0;
      let cursor = "0";
      do {
        const [next, batch] = await node.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 100);
        cursor = next;
        found += batch.length;
      } while (cursor !== "0");
      perMaster.push(found);
    }
    expect(perMaster).toHaveLength(3);
    // 200 keys over 16,384 slots land on all three masters; no single master holds them all.
    expect(perMaster.every((count) => count > 0 && count < keys.length)).toBe(true);
    expect(perMaster.reduce((sum, count) => sum + count, 0)).toBe(keys.length);
  });

  it("after a master is SIGKILLed, writes to its slots succeed again once a replica takes over", async () => {
    const key = `${uniquePrefix("failover")}:k`;
    await client.set(key, "before");
    const victim = await masterPortOf(client, key);
    const mastersBefore = await cluster.masters();

    expect(await cluster.killMaster(victim)).toBe(victim);
    const killedAt = Date.now();
    // Nobody else (e.g. a node of another test's cluster) may take the dead node's bus port while ours ping it.
    expect(await canListen(victim + 10_000)).toBe(false);
    const failedWrites = await retryUntilSuccess(() => client.set(key, "after"), 30_000);
    const recoveredMs = Date.now() - killedAt;

    // The replica only takes over after node-timeout, so at least the first write must have failed.
    expect(failedWrites).toBeGreaterThan(0);
    expect(recoveredMs).toBeGreaterThanOrEqual(2_000);
    expect(await client.get(key)).toBe("after");
    const mastersAfter = await cluster.masters();
    expect(mastersAfter).toHaveLength(3);
    expect(mastersAfter).not.toContain(victim);
    expect(mastersAfter.filter((port) => !mastersBefore.includes(port))).toHaveLength(1);
    expect(await masterPortOf(client, key)).not.toBe(victim);
  });
});
