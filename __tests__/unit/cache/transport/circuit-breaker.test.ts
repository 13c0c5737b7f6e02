import { describe, expect, it } from "vitest";
import { CircuitBreaker, type CircuitState } from "../../../../backend/src/cache/transport/circuit-breaker.ts";
import { CircuitOpenError } from "../../../../backend/src/cache/transport/resilience-errors.ts";

/** A breaker on a hand-driven clock, recording every state change. */
function breakerOnFakeClock(options: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  const clock = { now: 1_000_000 };
  const changes: [CircuitState, CircuitState][] = [];
  const breaker = new CircuitBreaker({
    now: () => clock.now,
    onStateChange: (from, to) => changes.push([from, to]),
    ...options,
  });
  return { breaker, clock, changes };
}

const boom = () => Promise.reject(new Error("redis down"));
const ok = () => Promise.resolve("ok");

describe("CircuitBreaker", () => {
  it("uses the documented defaults: 5 failures, recovery wait 1 s doubling up to 10 s, 3 half-open calls", () => {
    const { breaker, clock } = breakerOnFakeClock();
    for (let i = 0; i < 4; i += 1) breaker.recordFailure();
    expect(breaker.state).toBe("closed");
    breaker.recordFailure();
    expect(breaker.state).toBe("open");
    clock.now += 999;
    expect(breaker.state).toBe("open");
    clock.now += 1;
    expect(breaker.state).toBe("half-open");
    expect([breaker.allowRequest(), breaker.allowRequest(), breaker.allowRequest()]).toEqual([true, true, true]);
    expect(breaker.allowRequest()).toBe(false);
    // Failed trials double the wait: 2 s, 4 s, 8 s, then 10 s (the maximum) from then on.
    for (const wait of [2_000, 4_000, 8_000, 10_000, 10_000]) {
      breaker.recordFailure();
      expect(breaker.stats()).toMatchObject({ state: "open", recoveryWaitMs: wait });
      clock.now += wait - 1;
      expect(breaker.state).toBe("open");
      clock.now += 1;
      expect(breaker.state).toBe("half-open");
    }
  });

  it("after recovering, waits the minimum again only once it has stayed closed for the maximum wait", () => {
    const { breaker, clock } = breakerOnFakeClock({
      failureThreshold: 1,
      minRecoveryTimeoutMs: 100,
      recoveryTimeoutMs: 1_000,
      halfOpenMaxCalls: 1,
    });
    breaker.recordFailure();
    clock.now += 100;
    expect(breaker.allowRequest()).toBe(true);
    breaker.recordFailure(); // trial failed: 200
    clock.now += 200;
    expect(breaker.allowRequest()).toBe(true);
    breaker.recordSuccess();
    expect(breaker.state).toBe("closed");
    // Fails again soon after recovering (a flapping dependency): the doubled wait is kept.
    clock.now += 500;
    breaker.recordFailure();
    expect(breaker.stats()).toMatchObject({ state: "open", recoveryWaitMs: 200 });
    clock.now += 200;
    expect(breaker.allowRequest()).toBe(true);
    breaker.recordSuccess();
    // Closed for the maximum wait: the next outage starts from the minimum again.
    clock.now += 1_000;
    breaker.recordFailure();
    expect(breaker.stats()).toMatchObject({ state: "open", recoveryWaitMs: 100 });
  });

  it("opens only after consecutive failures: a success in between resets the count", () => {
    const { breaker } = breakerOnFakeClock({ failureThreshold: 3 });
    breaker.recordFailure();
    breaker.recordFailure();
    breaker.recordSuccess();
    breaker.recordFailure();
    breaker.recordFailure();
    expect(breaker.state).toBe("closed");
    breaker.recordFailure();
    expect(breaker.state).toBe("open");
  });

  it("refuses calls while open without running them, with code E_CIRCUIT_OPEN and the retry time", async () => {
    const { breaker, clock } = breakerOnFakeClock({
      failureThreshold: 2,
      minRecoveryTimeoutMs: 5_000,
      recoveryTimeoutMs: 5_000,
    });
    await expect(breaker.execute(boom)).rejects.toThrow("redis down");
    await expect(breaker.execute(boom)).rejects.toThrow("redis down");
    const openedAt = clock.now;
    let ran = false;
    const refused = await breaker
      .execute(async () => {
        ran = true;
      })
      .catch((error: unknown) => error);
    expect(ran).toBe(false);
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect((refused as CircuitOpenError).code).toBe("E_CIRCUIT_OPEN");
    expect((refused as CircuitOpenError).retryAt).toBe(openedAt + 5_000);
    expect(breaker.stats()).toMatchObject({ state: "open", opens: 1, rejected: 1 });
  });

  it("closes after halfOpenMaxCalls successful trials and reports every transition", async () => {
    const { breaker, clock, changes } = breakerOnFakeClock({
      failureThreshold: 1,
      recoveryTimeoutMs: 100,
      halfOpenMaxCalls: 2,
    });
    await expect(breaker.execute(boom)).rejects.toThrow();
    clock.now += 100;
    await expect(breaker.execute(ok)).resolves.toBe("ok");
    expect(breaker.state).toBe("half-open");
    await expect(breaker.execute(ok)).resolves.toBe("ok");
    expect(breaker.state).toBe("closed");
    expect(changes).toEqual([
      ["closed", "open"],
      ["open", "half-open"],
      ["half-open", "closed"],
    ]);
  });

  it("lets at most halfOpenMaxCalls trials run at once while half-open", async () => {
    const { breaker, clock } = breakerOnFakeClock({ failureThreshold: 1, recoveryTimeoutMs: 100, halfOpenMaxCalls: 3 });
    breaker.recordFailure();
    clock.now += 100;
    const releases: (() => void)[] = [];
    const trial = () => new Promise<void>((resolve) => releases.push(resolve));
    const outcomes = Array.from({ length: 5 }, () =>
      breaker.execute(trial).then(
        () => "ran",
        (e: unknown) => e,
      ),
    );
    expect(releases).toHaveLength(3);
    for (const release of releases) release();
    const results = await Promise.all(outcomes);
    expect(results.filter((result) => result === "ran")).toHaveLength(3);
    expect(results.filter((result) => result instanceof CircuitOpenError)).toHaveLength(2);
    expect(breaker.state).toBe("closed");
  });

  it("re-opens on any failed trial and waits a full recovery period again", async () => {
    const { breaker, clock, changes } = breakerOnFakeClock({ failureThreshold: 1, recoveryTimeoutMs: 100 });
    breaker.recordFailure();
    clock.now += 100;
    await breaker.execute(ok);
    await expect(breaker.execute(boom)).rejects.toThrow();
    expect(breaker.state).toBe("open");
    clock.now += 99;
    expect(breaker.allowRequest()).toBe(false);
    clock.now += 1;
    expect(breaker.allowRequest()).toBe(true);
    expect(changes.map(([, to]) => to)).toEqual(["open", "half-open", "open", "half-open"]);
  });

  it("with epochs: a slow call let through while closed neither re-opens a half-open breaker nor counts as its trial", () => {
    const { breaker, clock } = breakerOnFakeClock({
      failureThreshold: 1,
      minRecoveryTimeoutMs: 1_000,
      recoveryTimeoutMs: 8_000,
      halfOpenMaxCalls: 1,
    });
    expect(breaker.allowRequest()).toBe(true);
    const slowCallEpoch = breaker.epoch;
    expect(breaker.allowRequest()).toBe(true);
    breaker.recordFailure(new Error("timeout"), breaker.epoch);
    expect(breaker.state).toBe("open");
    clock.now += 1_000;
    expect(breaker.state).toBe("half-open");
    // The slow call from before it opened answers now, with a failure and then (another one) with a success.
    breaker.recordFailure(new Error("late timeout"), slowCallEpoch);
    expect(breaker.stats()).toMatchObject({ state: "half-open", recoveryWaitMs: 1_000 });
    breaker.recordSuccess(slowCallEpoch);
    expect(breaker.state).toBe("half-open");
    // The real trial decides.
    expect(breaker.allowRequest()).toBe(true);
    breaker.recordSuccess(breaker.epoch);
    expect(breaker.state).toBe("closed");
  });

  it("ignores late outcomes of calls that started before it opened", () => {
    const { breaker, clock } = breakerOnFakeClock({ failureThreshold: 1, recoveryTimeoutMs: 100 });
    breaker.recordFailure();
    clock.now += 50;
    breaker.recordSuccess();
    expect(breaker.state).toBe("open");
    breaker.recordFailure();
    clock.now += 50;
    // The late failure did not push recovery out: 100 ms after opening it is half-open.
    expect(breaker.state).toBe("half-open");
  });

  it("does not count errors that isFailure rejects (the dependency answered)", async () => {
    const { breaker } = breakerOnFakeClock({
      failureThreshold: 1,
      isFailure: (error) => !(error instanceof TypeError),
    });
    await expect(breaker.execute(() => Promise.reject(new TypeError("bad value")))).rejects.toThrow(TypeError);
    expect(breaker.state).toBe("closed");
    await expect(breaker.execute(boom)).rejects.toThrow();
    expect(breaker.state).toBe("open");
  });

  it("hands out a trial slot again when a trial's outcome is never recorded for a recovery period", () => {
    const { breaker, clock } = breakerOnFakeClock({ failureThreshold: 1, recoveryTimeoutMs: 100, halfOpenMaxCalls: 1 });
    breaker.recordFailure();
    clock.now += 100;
    expect(breaker.allowRequest()).toBe(true);
    expect(breaker.allowRequest()).toBe(false);
    clock.now += 100;
    expect(breaker.allowRequest()).toBe(true);
    breaker.recordSuccess();
    expect(breaker.state).toBe("closed");
  });

  it("survives a throwing state listener, and reset() closes it", () => {
    const breaker = new CircuitBreaker({
      failureThreshold: 1,
      onStateChange: () => {
        throw new Error("listener bug");
      },
    });
    expect(() => breaker.recordFailure()).not.toThrow();
    expect(breaker.state).toBe("open");
    breaker.reset();
    expect(breaker.state).toBe("closed");
    expect(breaker.allowRequest()).toBe(true);
  });

  it("rejects nonsensical options", () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ halfOpenMaxCalls: 1.5 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ recoveryTimeoutMs: -1 })).toThrow(RangeError);
  });

  it("a successful probe ends an open wait at once (however long it has doubled) and counts as a half-open trial", () => {
    const { breaker, clock } = breakerOnFakeClock({ recoveryTimeoutMs: 8_000 });
    for (let i = 0; i < 5; i += 1) breaker.recordFailure();
    for (let i = 0; i < 3; i += 1) {
      clock.now += breaker.stats().recoveryWaitMs;
      expect(breaker.allowRequest()).toBe(true);
      breaker.recordFailure(undefined, breaker.epoch);
    }
    expect(breaker.stats()).toMatchObject({ state: "open", recoveryWaitMs: 8_000 });
    clock.now += 100;
    breaker.probeSucceeded();
    expect(breaker.state).toBe("half-open");
    // Nobody calls through: three more successful probes close it on their own.
    breaker.probeSucceeded();
    breaker.probeSucceeded();
    expect(breaker.state).toBe("half-open");
    breaker.probeSucceeded();
    expect(breaker.state).toBe("closed");
    breaker.probeSucceeded();
    expect(breaker.state).toBe("closed");
  });
});
