import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { SpyCache } from "../../../backend/src/cache/index.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { randomSnowflake } from "../../support/test-env.ts";
import { CacheKit, ready, testRedis } from "../../support/cache-test-kit.ts";

/** Counts the socket writes of a real connection by wrapping its stream's write methods (nothing else changes). */
function countWrites(connection: Redis): { readonly count: number; restore(): void } {
  const stream = connection.stream as unknown as {
    _write: (...args: unknown[]) => void;
    _writev?: (...args: unknown[]) => void;
  };
  const { _write: write, _writev: writev } = stream;
  const counter = { count: 0 };
  stream._write = function (this: unknown, ...args: unknown[]) {
    counter.count += 1;
    return write.apply(this, args);
  };
  if (writev) {
    stream._writev = function (this: unknown, ...args: unknown[]) {
      counter.count += 1;
      return writev.apply(this, args);
    };
  }
  return {
    get count() {
      return counter.count;
    },
    restore() {
      stream._write = write;
      if (writev) stream._writev = writev;
    },
  };
}

/** Records the name and key count of every command sent on a real connection (wrapping `sendCommand`). */
function recordCommands(connection: Redis): { readonly sent: string[]; restore(): void } {
  const send = connection.sendCommand;
  const sent: string[] = [];
  connection.sendCommand = function (this: Redis, command, stream) {
    sent.push(`${command.name} ${command.args.length}`);
    return send.call(this, command, stream);
  };
  return {
    sent,
    restore() {
      connection.sendCommand = send;
    },
  };
}

describe("the L2 hit path: batched socket writes, one GET per key in flight", () => {
  let kit: CacheKit;
  let connection: Redis;
  let cache: SpyCache;

  beforeAll(async () => {
    kit = new CacheKit("hit-path");
    connection = kit.track(testRedis());
    await ready(connection);
    cache = kit.cache({ redis: connection });
    await cache.ready();
  });
  afterAll(async () => kit?.close());

  it("a lone hit's GET is written at once; the 50 reads of one burst are a GET and one MGET, in two writes", async () => {
    const guild = randomSnowflake();
    const keys = Array.from({ length: 50 }, (_, i) => `burst:${guild}:${i}`);
    for (const [i, key] of keys.entries()) await cache.set(key, { i }, { ttl: "1m", tags: [`guild:${guild}`] });
    const loader = vi.fn(async () => ({ i: -1 }));
    const writes = countWrites(connection);
    const commands = recordCommands(connection);
    try {
      // Start from a fresh tick: `set` announces its key on the bus after resolving, in the tick this test resumes in.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const lone = cache.remember(keys[0]!, "1m", loader, { tags: [`guild:${guild}`] });
      expect(writes.count).toBe(1); // written synchronously, before this tick ends
      expect(await lone).toEqual({ i: 0 });
      const before = writes.count;
      const burst = keys.map((key) => cache.remember(key, "1m", loader, { tags: [`guild:${guild}`] }));
      // The tick ends here: the coalescer's own end-of-tick callback was queued first, so the batch is out.
      // (Counting later could also count the bus's heartbeat, which shares the connection.)
      await new Promise<void>((resolve) => process.nextTick(resolve));
      expect(writes.count - before).toBe(2);
      const results = await Promise.all(burst);
      expect(results).toEqual(keys.map((_, i) => ({ i })));
      expect(loader).not.toHaveBeenCalled();
      // The lone hit was a GET; the burst was its first GET at once, then the 49 others in one MGET.
      expect(commands.sent.filter((c) => /^(get|mget) /.test(c))).toEqual(["get 1", "get 1", "mget 49"]);
    } finally {
      commands.restore();
      writes.restore();
    }
  });

  it("a burst longer than one MGET's limit is split into MGETs of at most 256 keys, every caller answered", async () => {
    const guild = randomSnowflake();
    const keys = Array.from({ length: 600 }, (_, i) => `long-burst:${guild}:${i}`);
    await cache.mset(keys.map((key, i) => ({ key, value: { i }, ttl: "1m" })));
    const loader = vi.fn(async () => ({ i: -1 }));
    await new Promise<void>((resolve) => setImmediate(resolve));
    const commands = recordCommands(connection);
    try {
      const results = await Promise.all(keys.map((key) => cache.remember(key, "1m", loader)));
      expect(results).toEqual(keys.map((_, i) => ({ i })));
      expect(loader).not.toHaveBeenCalled();
      expect(commands.sent.filter((c) => /^(get|mget) /.test(c))).toEqual(["get 1", "mget 256", "mget 256", "mget 87"]);
    } finally {
      commands.restore();
    }
  });

  it("a read that has answered is not joined: sequential callers each read Redis, and see a value set in between", async () => {
    const key = `seq:${randomSnowflake()}`;
    await cache.set(key, "first", { ttl: "1m" });
    expect(await cache.remember(key, "1m", async () => "loader")).toBe("first");
    await cache.set(key, "second", { ttl: "1m" });
    expect(await cache.remember(key, "1m", async () => "loader")).toBe("second");
  });
});

describe("the L2 hit path times out its GETs itself (Redis frozen with SIGSTOP)", () => {
  const FALLBACK_TIMEOUT_MS = 300;
  let server: ThrowawayRedis;
  let kit: CacheKit;
  let cache: SpyCache;

  beforeAll(async () => {
    server = await ThrowawayRedis.start();
    kit = new CacheKit("hit-frozen");
    // No commandTimeout on the connection: ioredis arms no timer at all, so only the cache's own deadline watch
    // (with fallbackCommandTimeoutMs) can end a hit's GET.
    const connection = kit.track(
      new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50 }),
    );
    connection.on("error", () => undefined);
    await ready(connection);
    cache = kit.cache({
      redis: connection,
      fallbackCommandTimeoutMs: FALLBACK_TIMEOUT_MS,
      breaker: { failureThreshold: 1_000, recoveryTimeoutMs: 100 },
    });
    await cache.ready();
  });
  afterAll(async () => {
    server?.thaw();
    await kit?.close();
    await server?.kill();
  });

  it("every hit falls back to its loader within the timeout, then hits again once Redis answers", async () => {
    const guild = randomSnowflake();
    const keys = Array.from({ length: 20 }, (_, i) => `frozen:${guild}:${i}`);
    for (const key of keys) await cache.set(key, "cached", { ttl: "1m" });
    expect(await cache.rememberWithMeta(keys[0]!, "1m", async () => "loaded")).toMatchObject({
      status: "hit",
      value: "cached",
    });

    server.freeze();
    try {
      const started = performance.now();
      const results = await Promise.all(
        keys.map(async (key) => {
          const result = await cache.rememberWithMeta(key, "1m", async () => "loaded");
          return { ...result, ms: performance.now() - started };
        }),
      );
      for (const result of results) {
        expect(result).toMatchObject({ status: "bypass", value: "loaded" });
        // They did wait for the deadline (no earlier than timeout - tick), and not past it (plus scheduling slack).
        expect(result.ms).toBeGreaterThanOrEqual(FALLBACK_TIMEOUT_MS - 30 - 1);
        expect(result.ms).toBeLessThan(FALLBACK_TIMEOUT_MS + 150);
      }
    } finally {
      server.thaw();
    }
    await vi.waitFor(
      async () => expect((await cache.rememberWithMeta(keys[1]!, "1m", async () => "loaded")).status).toBe("hit"),
      { timeout: 10_000, interval: 50 },
    );
  });
});

describe("the L2 hit path when the batched MGET itself fails (a server that refuses MGET)", () => {
  let server: ThrowawayRedis;
  let kit: CacheKit;
  let cache: SpyCache;

  beforeAll(async () => {
    // Renaming MGET away makes every MGET an error reply, while GET (the first read of a tick) still works.
    server = await ThrowawayRedis.start({ args: ["--rename-command", "MGET", ""] });
    kit = new CacheKit("hit-mget-refused");
    const connection = kit.track(
      new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1_000 }),
    );
    connection.on("error", () => undefined);
    await ready(connection);
    cache = kit.cache({ redis: connection });
    await cache.ready();
  });
  afterAll(async () => {
    await kit?.close();
    await server?.kill();
  });

  it("every caller of the failed batch is answered by its loader (bypass), none hangs, and the breaker stays closed", async () => {
    const guild = randomSnowflake();
    const keys = Array.from({ length: 10 }, (_, i) => `refused:${guild}:${i}`);
    for (const key of keys) await cache.set(key, "cached", { ttl: "1m" });
    await new Promise<void>((resolve) => setImmediate(resolve));
    const results = await Promise.all(keys.map((key) => cache.rememberWithMeta(key, "1m", async () => "loaded")));
    // The first read of the tick was a GET (a hit); the other nine were in the refused MGET.
    expect(results[0]).toMatchObject({ status: "hit", value: "cached" });
    for (const result of results.slice(1)) expect(result).toMatchObject({ status: "bypass", value: "loaded" });
    // An error reply is Redis answering, not Redis being down.
    expect((await cache.getStats({ includeKeyspace: false })).breaker.state).toBe("closed");
  });
});
