import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import calculateSlot from "cluster-key-slot";
import { Command, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  failCommand,
  IOREDIS_VERSION_TESTED,
  isSettled,
  nodeId,
  slotOwners,
  socketOf,
  UntimedCommand,
} from "../../../../backend/src/cache/transport/ioredis-internals.ts";
import { startRedisCluster, type RedisClusterHandle } from "../../../support/redis-cluster.ts";
import { TEST_REDIS_URL, uniquePrefix } from "../../../support/test-env.ts";

// The contract of the ioredis behaviour the cache relies on beyond its documented API (see ioredis-internals.ts):
// each case fails if the installed ioredis stops behaving this way.

const require = createRequire(import.meta.url);

describe("ioredis internals the cache relies on", () => {
  let redis: Redis;
  const prefix = uniquePrefix("ioredis-internals");

  beforeAll(async () => {
    redis = new Redis(TEST_REDIS_URL, { commandTimeout: 40, lazyConnect: true, protocol: 2 });
    await redis.connect();
  });

  afterAll(() => redis.disconnect());

  it("the installed ioredis is the version tested, and package.json pins exactly it", () => {
    const installed = (require("ioredis/package.json") as { version: string }).version;
    const declared = (JSON.parse(readFileSync("package.json", "utf8")) as { dependencies: Record<string, string> })
      .dependencies.ioredis;
    expect(installed).toBe(IOREDIS_VERSION_TESTED);
    expect(declared).toBe(IOREDIS_VERSION_TESTED);
  });

  it("sendCommand arms the connection's commandTimeout through command.setTimeout, which UntimedCommand disables", async () => {
    // A plain command on a 40 ms commandTimeout connection times out during a 150 ms server sleep...
    const blocker = new Redis(TEST_REDIS_URL, { protocol: 2 });
    try {
      // CLIENT PAUSE answers at once, then holds every client's commands for 150 ms.
      await blocker.call("CLIENT", "PAUSE", "150", "ALL");
      await expect(redis.sendCommand(new Command("ping"))).rejects.toThrow("Command timed out");
      // ...while an UntimedCommand waits for its answer.
      const armed: number[] = [];
      class Spy extends UntimedCommand {
        override setTimeout(ms: number): void {
          armed.push(ms);
        }
      }
      await blocker.call("CLIENT", "PAUSE", "150", "ALL");
      const untimed = new Spy("ping", [], { replyEncoding: "utf8" });
      await expect(redis.sendCommand(untimed)).resolves.toBe("PONG");
      expect(armed).toEqual([40]);
      await blocker.call("CLIENT", "UNPAUSE");
    } finally {
      blocker.disconnect();
    }
  });

  it("isSettled turns true once a reply arrived; failCommand rejects a command still waiting", async () => {
    const answered = new UntimedCommand("set", [`${prefix}:k`, "v"], { replyEncoding: "utf8" });
    expect(isSettled(answered)).toBe(false);
    await redis.sendCommand(answered);
    expect(isSettled(answered)).toBe(true);

    const blocker = new Redis(TEST_REDIS_URL, { protocol: 2 });
    try {
      await blocker.call("CLIENT", "PAUSE", "100", "ALL");
      const waiting = new UntimedCommand("get", [`${prefix}:k`], { replyEncoding: "utf8" });
      const reply = redis.sendCommand(waiting);
      failCommand(waiting, new Error("gave up"));
      await expect(reply).rejects.toThrow("gave up");
      expect(isSettled(waiting)).toBe(true);
      await blocker.call("CLIENT", "UNPAUSE");
      // The late reply of the failed command must not shift the next command's answer.
      await expect(redis.get(`${prefix}:k`)).resolves.toBe("v");
    } finally {
      blocker.disconnect();
    }
  });

  it("socketOf gives the connection's socket; commands written while it is corked leave on uncork", async () => {
    const socket = socketOf(redis);
    expect(socket?.writable).toBe(true);
    socket!.cork();
    const first = redis.set(`${prefix}:a`, "1");
    const second = redis.get(`${prefix}:a`);
    socket!.uncork();
    await expect(Promise.all([first, second])).resolves.toEqual(["OK", "1"]);
  });

  describe("on a cluster", () => {
    let cluster: RedisClusterHandle;

    beforeAll(async () => {
      cluster = await startRedisCluster();
    }, 60_000);

    afterAll(async () => cluster?.stop());

    it("slotOwners maps a key's slot to the nodeId of the master that serves it", async () => {
      const client = cluster.client();
      await client.set("{internals}:k", "v");
      const owner = slotOwners(client)[calculateSlot("{internals}:k")]?.[0];
      const master = client.nodes("master").find((node) => nodeId(node) === owner);
      expect(master).toBeDefined();
      // Asked directly (no redirection), the owner has the key.
      await expect(master!.get("{internals}:k")).resolves.toBe("v");
    });
  });
});
