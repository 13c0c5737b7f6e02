import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SpyCache } from "../../../backend/src/cache/index.ts";
import { randomSnowflake, TEST_REDIS_URL } from "../../support/test-env.ts";
import { CacheKit, ready, testRedis } from "../../support/cache-test-kit.ts";

const PEER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "cache-peer-process.ts");

/** A child process running a cache on the same Redis and prefix, answering requests over IPC. */
class Peer {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(readonly child: ChildProcess) {
    child.on("message", (message: { id?: number; result?: unknown; error?: string }) => {
      if (message.id === undefined) return;
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.result);
    });
  }

  static async start(prefix: string, l1: boolean): Promise<Peer> {
    const child = spawn(process.execPath, ["--import", "tsx", PEER_SCRIPT], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, PEER_REDIS_URL: TEST_REDIS_URL, PEER_PREFIX: prefix, PEER_L1: l1 ? "1" : "0" },
    });
    const peer = new Peer(child);
    const [first] = (await Promise.race([
      once(child, "message"),
      once(child, "exit").then(() => [{ exited: true }]),
    ])) as [{ ready?: boolean }];
    if (!first.ready) throw new Error("peer process exited before it was ready");
    return peer;
  }

  request<T>(message: Record<string, unknown>): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...message, id });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit");
    await Promise.race([this.request({ op: "close" }).catch(() => undefined), exited]);
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
    await exited;
  }
}

describe("a second process invalidating while this one reads", () => {
  let kit: CacheKit;
  let cache: SpyCache;
  let peer: Peer;

  beforeAll(async () => {
    kit = new CacheKit("xproc");
    const connection = kit.track(testRedis());
    await ready(connection);
    cache = kit.cache({ redis: connection, l1: {} });
    [peer] = await Promise.all([Peer.start(kit.prefix, true), cache.ready()]);
  });
  afterAll(async () => {
    await peer?.stop();
    await kit?.close();
  });

  it("after the peer's invalidateByTags resolves, no read here returns the old value (30 rounds, 4 readers hammering)", async () => {
    const tag = `guild:${randomSnowflake()}`;
    const key = `analytics:ghosts:${randomSnowflake()}`;
    let truth = 0;
    const loader = async () => {
      const seen = truth;
      // Widen the race window: a loader that read the old truth finishes after the invalidation.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      return seen;
    };
    let stop = false;
    const hammer = async () => {
      while (!stop) {
        await cache.remember(key, "1m", loader, { tags: [tag] });
        // L1 hits resolve without I/O; yield like a real request loop so sockets are served.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const hammers = Array.from({ length: 4 }, hammer);
    try {
      for (let round = 1; round <= 30; round += 1) {
        truth = round;
        const result = await peer.request<{ entries: number }>({ op: "invalidate", tags: [tag] });
        expect(result.entries).toBeGreaterThanOrEqual(0);
        const [viaRemember, viaGet] = await Promise.all([
          cache.remember(key, "1m", loader, { tags: [tag] }),
          cache.get(key),
        ]);
        expect(viaRemember).toBe(round);
        expect(viaGet === undefined || viaGet === round).toBe(true);
      }
    } finally {
      stop = true;
      await Promise.all(hammers);
    }
  });

  it("after this process's invalidateByTags resolves, the peer (with its own L1) no longer reads the old value", async () => {
    const tag = `guild:${randomSnowflake()}`;
    for (let round = 1; round <= 30; round += 1) {
      const key = `peer:${round}:${randomSnowflake()}`;
      await cache.set(key, `old-${round}`, { tags: [tag] });
      expect(await peer.request({ op: "get", key })).toBe(`old-${round}`);
      await cache.invalidateByTag(tag);
      expect(await peer.request({ op: "get", key })).toBeNull();
    }
  });
});
