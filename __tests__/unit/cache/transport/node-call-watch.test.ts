import { once } from "node:events";
import net from "node:net";
import { Worker } from "node:worker_threads";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { CircuitBreaker } from "../../../../backend/src/cache/transport/circuit-breaker.ts";
import { NodeBreakers } from "../../../../backend/src/cache/transport/node-breakers.ts";
import { NodeCallWatch } from "../../../../backend/src/cache/transport/node-call-watch.ts";
import { TimeoutError } from "../../../../backend/src/lib/with-timeout.ts";
import { deferred, rejectionAfter } from "../../../support/cache-test-kit.ts";

/** A watch whose verdicts are recorded; `silent` lists the breakers judged, in order. */
function watchWith(timeoutMs: number, silentAfterMs?: number) {
  const silent: CircuitBreaker[] = [];
  const watch = new NodeCallWatch({
    timeoutMs,
    ...(silentAfterMs === undefined ? {} : { silentAfterMs }),
    onSilent: (breaker) => silent.push(breaker),
  });
  return { watch, silent };
}

/** Keeps the event loop busy for `ms` (a GC pause or a long synchronous task, as the watch sees it). */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

const SILENT = /^redis command \(node silent\) did not answer within (\d+) ms$/;
const TIMED_OUT = (ms: number) => `redis command did not answer within ${ms} ms`;

/** Asserts that `call` (sent at `started`) was failed by the timeout alone, not before `timeoutMs - tickMs`. */
async function expectTimedOut(call: Promise<unknown>, started: number, timeoutMs: number, tickMs: number) {
  const { ms, error } = await rejectionAfter(call, started);
  expect(error.message).toBe(TIMED_OUT(timeoutMs));
  expect(ms).toBeGreaterThanOrEqual(timeoutMs - tickMs - 1);
}

/**
 * An echo server on its own thread: it answers while this thread's event loop is blocked, so its reply waits in the
 * socket, unread, as a Redis reply does during a GC pause.
 */
async function echoServer(): Promise<{ port: number; close: () => Promise<number> }> {
  const worker = new Worker(
    `const net = require("node:net"); const { parentPort } = require("node:worker_threads");
     const server = net.createServer((socket) => socket.on("data", (data) => socket.write(data)));
     server.listen(0, "127.0.0.1", () => parentPort.postMessage(server.address().port));`,
    { eval: true },
  );
  const [port] = (await once(worker, "message")) as [number];
  return { port, close: () => worker.terminate() };
}

describe("NodeCallWatch: a node that answers nothing is told apart from a slow process", () => {
  it("fails every call of a silent node once it has answered nothing for silentAfterMs (default half the timeout), trips it once, and leaves the other nodes' calls alone", async () => {
    const { watch, silent } = watchWith(1_000);
    const dead = new CircuitBreaker();
    const live = new CircuitBreaker();
    const started = performance.now();
    const first = watch.bound(dead, deferred<string>().promise, "redis command");
    const second = watch.bound(dead, deferred<string>().promise, "redis command");
    const other = deferred<string>();
    const otherBound = watch.bound(live, other.promise, "redis command");
    setTimeout(() => other.resolve("pong"), 20);
    for (const { ms, error } of await Promise.all([rejectionAfter(first, started), rejectionAfter(second, started)])) {
      expect(error).toBeInstanceOf(TimeoutError);
      // A verdict, not the 1 s timeout; the message gives the time waited.
      expect(error.message).toMatch(SILENT);
      expect(Number(SILENT.exec(error.message)![1])).toBeGreaterThanOrEqual(500);
      expect(ms).toBeGreaterThanOrEqual(500 - 1);
    }
    expect(silent).toEqual([dead]);
    expect(await otherBound).toBe("pong");
    expect(watch.pending).toBe(0);
  });

  it("does not judge a node that answered after the call was sent: the call waits for the timeout", async () => {
    const { watch, silent } = watchWith(300, 60);
    const slow = new CircuitBreaker();
    const started = performance.now();
    const stuck = watch.bound(slow, deferred<string>().promise, "redis command");
    // The same node answers later calls now and then: it is there, just slow on the first one.
    const answers = setInterval(() => {
      const later = deferred<string>();
      void watch.bound(slow, later.promise, "redis command");
      later.resolve("ok");
    }, 15);
    try {
      await expectTimedOut(stuck, started, 300, watch.tickMs);
    } finally {
      clearInterval(answers);
    }
    expect(silent).toEqual([]);
  });

  it("an error reply is an answer: the node is there", async () => {
    const { watch, silent } = watchWith(300, 60);
    const node = new CircuitBreaker();
    const started = performance.now();
    const stuck = watch.bound(node, deferred<string>().promise, "redis command");
    const wrongType = deferred<string>();
    const replied = watch.bound(node, wrongType.promise, "redis command");
    const replyError = Object.assign(new Error("WRONGTYPE"), { name: "ReplyError" });
    setTimeout(() => wrongType.reject(replyError), 30);
    await expect(replied).rejects.toBe(replyError);
    await expectTimedOut(stuck, started, 300, watch.tickMs);
    expect(silent).toEqual([]);
  });

  it("a reply that arrived while the event loop was blocked is read, not mistaken for silence", async () => {
    const server = await echoServer();
    const socket = net.connect(server.port, "127.0.0.1");
    try {
      await once(socket, "connect");
      const { watch, silent } = watchWith(1_000, 50);
      const node = new CircuitBreaker();
      const reply = new Promise<string>((resolve) => socket.once("data", (data) => resolve(data.toString())));
      const bound = watch.bound(node, reply, "redis command");
      socket.write("PING");
      // The echo comes back within a millisecond or so, and waits in the socket until the block ends: the first tick
      // after it sees 200 ms since the call, but the poll phase that follows reads the reply.
      block(200);
      expect(await bound).toBe("PING");
      expect(silent).toEqual([]);
    } finally {
      socket.destroy();
      await server.close();
    }
  });

  it("a node that stays silent through a blocked event loop is still judged, on a later tick", async () => {
    const { watch, silent } = watchWith(2_000, 50);
    const node = new CircuitBreaker();
    const started = performance.now();
    const stuck = watch.bound(node, deferred<string>().promise, "redis command");
    block(200);
    // Another node answers after the block: the process reads replies, this node is silent.
    const other = deferred<string>();
    const otherBound = watch.bound(new CircuitBreaker(), other.promise, "redis command");
    other.resolve("pong");
    await otherBound;
    const { ms, error } = await rejectionAfter(stuck, started);
    expect(error.message).toMatch(SILENT);
    expect(ms).toBeLessThan(2_000 - watch.tickMs);
    expect(silent).toEqual([node]);
  });

  it("a node that refuses connections has its calls judged a tick after they are sent; one that answers since, or a refusal older than the timeout, changes nothing", async () => {
    const { watch, silent } = watchWith(1_000, 500);
    const killed = new CircuitBreaker();
    watch.connectionRefused(killed);
    const started = performance.now();
    const { ms, error } = await rejectionAfter(
      watch.bound(killed, deferred<string>().promise, "redis command"),
      started,
    );
    expect(error.message).toMatch(SILENT);
    // Two ticks of 25 ms, not 500 ms (generous for a loaded machine).
    expect(ms).toBeLessThan(400);
    expect(silent).toEqual([killed]);

    // Refused, then reconnected and answering: a later call that takes 60 ms (more than a tick) is not judged.
    const restarted = new CircuitBreaker();
    watch.connectionRefused(restarted);
    const first = deferred<string>();
    const answered = watch.bound(restarted, first.promise, "redis command");
    first.resolve("back");
    expect(await answered).toBe("back");
    const slower = deferred<string>();
    const slowerBound = watch.bound(restarted, slower.promise, "redis command");
    setTimeout(() => slower.resolve("slow but there"), 60);
    expect(await slowerBound).toBe("slow but there");

    // A refusal reported long ago (the node came back meanwhile, nothing was sent): ignored.
    const { watch: quiet, silent: quietSilent } = watchWith(100, 80);
    const node = new CircuitBreaker();
    quiet.connectionRefused(node);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const late = deferred<string>();
    const lateBound = quiet.bound(node, late.promise, "redis command");
    setTimeout(() => late.resolve("fine"), 50);
    expect(await lateBound).toBe("fine");
    expect(quietSilent).toEqual([]);
    expect(silent).toEqual([killed]);
  });

  it("judges no node while no other node answers either (every master paused at once): only the timeout applies", async () => {
    const { watch, silent } = watchWith(300, 50);
    const started = performance.now();
    const calls = [new CircuitBreaker(), new CircuitBreaker()].map((breaker) =>
      watch.bound(breaker, deferred<string>().promise, "redis command"),
    );
    for (const call of calls) await expectTimedOut(call, started, 300, watch.tickMs);
    expect(silent).toEqual([]);
  });

  it("calls that may go to any node (not judged) are only timed out", async () => {
    const { watch, silent } = watchWith(300, 50);
    const anyNode = new CircuitBreaker();
    watch.connectionRefused(anyNode);
    const started = performance.now();
    await expectTimedOut(
      watch.bound(anyNode, deferred<string>().promise, "redis command", false),
      started,
      300,
      watch.tickMs,
    );
    expect(silent).toEqual([]);
  });

  it("with silentAfterMs 0 only the timeout fails calls", async () => {
    const { watch, silent } = watchWith(150, 0);
    const node = new CircuitBreaker();
    watch.connectionRefused(node);
    const started = performance.now();
    await expectTimedOut(watch.bound(node, deferred<string>().promise, "redis command"), started, 150, watch.tickMs);
    expect(silent).toEqual([]);
  });

  it("settles like the call; its interval runs only while calls are in flight; close() keeps the deadline of calls in flight", async () => {
    const { watch } = watchWith(200);
    const call = deferred<number>();
    const bound = watch.bound(new CircuitBreaker(), call.promise, "x");
    expect(watch.running).toBe(true);
    call.resolve(42);
    expect(await bound).toBe(42);
    const failing = deferred<string>();
    const failed = watch.bound(new CircuitBreaker(), failing.promise, "x");
    const closed = new Error("Connection is closed.");
    failing.reject(closed);
    await expect(failed).rejects.toBe(closed);
    expect(watch.pending).toBe(0);
    await expect.poll(() => watch.running, { interval: 5, timeout: 1_000 }).toBe(false);

    const never = watch.bound(new CircuitBreaker(), deferred<string>().promise, "redis command", false);
    watch.close();
    await expect(never).rejects.toThrow(TIMED_OUT(200));
    expect(watch.running).toBe(false);
  });
});

describe("NodeBreakers.bound", () => {
  const client = new Redis({ lazyConnect: true });
  afterAll(() => client.disconnect());

  it("on a single node only times calls out: one slow answer does not switch the whole cache off", async () => {
    const breakers = new NodeBreakers(client, { breaker: {}, probeTimeoutMs: 300, silentAfterMs: 50 });
    try {
      const breaker = breakers.unrouted();
      const started = performance.now();
      await expectTimedOut(breakers.bound(breaker, deferred<string>().promise, "redis command"), started, 300, 25);
      expect(breaker.state).toBe("closed");
    } finally {
      breakers.close();
    }
  });
});

describe("CircuitBreaker.trip", () => {
  it("opens a closed breaker with the first recovery wait, re-opens a half-open one with the wait doubled, and leaves an open one as it is", () => {
    let now = 1_000_000;
    const breaker = new CircuitBreaker({ minRecoveryTimeoutMs: 1_000, recoveryTimeoutMs: 8_000, now: () => now });
    breaker.trip();
    expect(breaker.stats()).toMatchObject({ state: "open", recoveryWaitMs: 1_000, opens: 1, openedAt: 1_000_000 });
    now += 500;
    breaker.trip();
    expect(breaker.stats()).toMatchObject({ state: "open", opens: 1, openedAt: 1_000_000 });
    now += 600;
    expect(breaker.state).toBe("half-open");
    breaker.trip();
    expect(breaker.stats()).toMatchObject({ state: "open", recoveryWaitMs: 2_000, opens: 2, openedAt: 1_001_100 });
    expect(breaker.allowRequest()).toBe(false);
  });
});
