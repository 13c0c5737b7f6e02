import { describe, expect, it } from "vitest";
import { CircuitBreaker } from "../../../../backend/src/cache/transport/circuit-breaker.ts";
import { NodeCallWatch } from "../../../../backend/src/cache/transport/node-call-watch.ts";
import { TimeoutError } from "../../../../backend/src/lib/with-timeout.ts";

/** A call whose answer the test gives by hand (or never). */
function pendingCall<T = string>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** How long `promise` took to reject (it must reject), and with what. */
async function rejection(promise: Promise<unknown>, started: number): Promise<{ ms: number; error: Error }> {
  try {
    await promise;
  } catch (error) {
    return { ms: performance.now() - started, error: error as Error };
  }
  throw new Error("expected a rejection");
}

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

describe("NodeCallWatch: a node that answers nothing is told apart from a slow process", () => {
  it("fails every call of a silent node after silentAfterMs (default half the timeout), once, and leaves the other nodes' calls alone", async () => {
    const { watch, silent } = watchWith(600);
    const dead = new CircuitBreaker();
    const live = new CircuitBreaker();
    const started = performance.now();
    const first = watch.bound(dead, pendingCall().promise, "redis command");
    const second = watch.bound(dead, pendingCall().promise, "redis command");
    // The live node keeps answering, so this process is reading replies.
    const other = pendingCall();
    const otherBound = watch.bound(live, other.promise, "redis command");
    setTimeout(() => other.resolve("pong"), 20);
    const [a, b] = await Promise.all([rejection(first, started), rejection(second, started)]);
    for (const { ms, error } of [a, b]) {
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.message).toBe("redis command (node silent) did not answer within 300 ms");
      expect(ms).toBeGreaterThanOrEqual(300 - 1);
      // Before the 600 ms timeout (the message above says which of the two failed it).
      expect(ms).toBeLessThan(600);
    }
    expect(silent).toEqual([dead]);
    expect(await otherBound).toBe("pong");
    expect(watch.pending).toBe(0);
  });

  it("does not judge a node that answered after the call was sent: the call waits for the timeout", async () => {
    const { watch, silent } = watchWith(300, 60);
    const slow = new CircuitBreaker();
    const started = performance.now();
    const stuck = watch.bound(slow, pendingCall().promise, "redis command");
    // The same node answers a later call now and then: it is there, just slow on the first one.
    const answers = setInterval(() => {
      const later = pendingCall();
      void watch.bound(slow, later.promise, "redis command");
      later.resolve("ok");
    }, 15);
    try {
      const { ms, error } = await rejection(stuck, started);
      expect(error.message).toBe("redis command did not answer within 300 ms");
      expect(ms).toBeGreaterThanOrEqual(300 - watch.tickMs - 1);
    } finally {
      clearInterval(answers);
    }
    expect(silent).toEqual([]);
  });

  it("an error reply is an answer: the node is there", async () => {
    const { watch, silent } = watchWith(300, 60);
    const node = new CircuitBreaker();
    const started = performance.now();
    const stuck = watch.bound(node, pendingCall().promise, "redis command");
    const wrongType = pendingCall();
    const replied = watch.bound(node, wrongType.promise, "redis command");
    const replyError = Object.assign(new Error("WRONGTYPE"), { name: "ReplyError" });
    setTimeout(() => wrongType.reject(replyError), 30);
    await expect(replied).rejects.toBe(replyError);
    const { ms } = await rejection(stuck, started);
    expect(ms).toBeGreaterThanOrEqual(300 - watch.tickMs - 1);
    expect(silent).toEqual([]);
  });

  it("never judges calls sent before the event loop was blocked (their replies may be unread): only the timeout fails them", async () => {
    const { watch, silent } = watchWith(300, 50);
    const node = new CircuitBreaker();
    const started = performance.now();
    const before = watch.bound(node, pendingCall().promise, "redis command");
    block(120);
    const { ms, error } = await rejection(before, started);
    expect(error.message).toBe("redis command did not answer within 300 ms");
    expect(ms).toBeGreaterThanOrEqual(300 - watch.tickMs - 1);
    expect(silent).toEqual([]);
  });

  it("a lost connection makes the node's calls judgeable at the next tick; a node that answers after it is not judged", async () => {
    const { watch, silent } = watchWith(1_000, 500);
    const killed = new CircuitBreaker();
    const restarted = new CircuitBreaker();
    const started = performance.now();
    const onKilled = watch.bound(killed, pendingCall().promise, "redis command");
    const onRestarted = pendingCall();
    const restartedBound = watch.bound(restarted, onRestarted.promise, "redis command");
    watch.connectionLost(killed);
    watch.connectionLost(restarted);
    // The restarted node reconnects and answers before the next tick.
    onRestarted.resolve("back");
    const { ms, error } = await rejection(onKilled, started);
    expect(error.message).toBe("redis command (node silent) did not answer within 500 ms");
    expect(ms).toBeLessThan(250);
    expect(silent).toEqual([killed]);
    expect(await restartedBound).toBe("back");
    const after = watch.bound(restarted, pendingCall().promise, "redis command");
    const late = await rejection(after, performance.now());
    expect(late.error.message).toBe("redis command (node silent) did not answer within 500 ms");
    expect(late.ms).toBeGreaterThanOrEqual(500 - 1);
  });

  it("calls that may go to any node (not judged) are only timed out", async () => {
    const { watch, silent } = watchWith(300, 50);
    const anyNode = new CircuitBreaker();
    watch.connectionLost(anyNode);
    const started = performance.now();
    const { ms, error } = await rejection(watch.bound(anyNode, pendingCall().promise, "publish", false), started);
    expect(error.message).toBe("publish did not answer within 300 ms");
    expect(ms).toBeGreaterThanOrEqual(300 - watch.tickMs - 1);
    expect(silent).toEqual([]);
  });

  it("with silentAfterMs 0 only the timeout fails calls", async () => {
    const { watch, silent } = watchWith(150, 0);
    const node = new CircuitBreaker();
    watch.connectionLost(node);
    const started = performance.now();
    const { ms, error } = await rejection(watch.bound(node, pendingCall().promise, "x"), started);
    expect(error.message).toBe("x did not answer within 150 ms");
    expect(ms).toBeGreaterThanOrEqual(150 - watch.tickMs - 1);
    expect(silent).toEqual([]);
  });

  it("settles like the call when it answers in time, and stops its interval once nothing is in flight", async () => {
    const { watch } = watchWith(200);
    const call = pendingCall<number>();
    const bound = watch.bound(new CircuitBreaker(), call.promise, "x");
    call.resolve(42);
    expect(await bound).toBe(42);
    expect(watch.pending).toBe(0);
    const failing = pendingCall();
    const failed = watch.bound(new CircuitBreaker(), failing.promise, "x");
    const closed = new Error("Connection is closed.");
    failing.reject(closed);
    await expect(failed).rejects.toBe(closed);
    expect(watch.pending).toBe(0);
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
