import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { AlertMonitor } from "../../../backend/src/monitoring/alert-monitor.ts";
import { buildAlertRules, type AlertRule } from "../../../backend/src/monitoring/alert-rules.ts";
import type { AlertSample } from "../../../backend/src/monitoring/alert-sample.ts";

function sample(at: number, patch: Partial<AlertSample> = {}): AlertSample {
  return {
    at,
    cache: { lookups: 0, hits: 0 },
    breakerState: "closed",
    redis: { nodes: [] },
    ingest: null,
    invalidationErrors: null,
    readiness: [{ name: "redis", up: true }],
    wsSlowConsumerCloses: 0,
    ...patch,
  };
}

/** A pino logger whose JSON lines the test reads. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}

/** A monitor on an injected clock whose samples the test scripts (what each source "said" at each time). */
function scriptedMonitor(options: {
  rules?: AlertRule[];
  windowMs?: number;
  read: (at: number) => Partial<AlertSample>;
}) {
  let clock = 1_700_000_000_000;
  const start = clock;
  const { logger, lines } = capturingLogger();
  const monitor = new AlertMonitor({
    rules: options.rules ?? buildAlertRules(),
    sample: async (at) => sample(at, options.read(at - start)),
    logger,
    windowMs: options.windowMs ?? 60_000,
    now: () => clock,
  });
  const at = async (elapsedMs: number) => {
    clock = start + elapsedMs;
    return monitor.evaluate();
  };
  return { monitor, at, lines };
}

const state = (report: Awaited<ReturnType<AlertMonitor["evaluate"]>>, id: string) =>
  report.alerts.find((alert) => alert.id === id)!;

describe("AlertMonitor (injected clock and samples)", () => {
  it("compares counters with the oldest sample inside the window, so an increase fires until it leaves the window", async () => {
    // One invalidation error at 30 s, none after; window 60 s, evaluations every 15 s.
    const { at } = scriptedMonitor({ read: (t) => ({ invalidationErrors: t >= 30_000 ? 1 : 0 }) });
    expect(state(await at(0), "invalidation_errors")).toMatchObject({ state: "ok", value: null });
    expect(state(await at(15_000), "invalidation_errors")).toMatchObject({ state: "ok", value: 0 });
    expect(state(await at(30_000), "invalidation_errors")).toMatchObject({ state: "firing", value: 1 });
    expect(state(await at(75_000), "invalidation_errors")).toMatchObject({ state: "firing", value: 1 });
    // At 90 s the baseline is the 30 s sample: no increase within the window any more.
    expect(state(await at(90_000), "invalidation_errors")).toMatchObject({ state: "ok", value: 0 });
  });

  it("holds a rule pending for its `for`, then logs firing at error (critical) and resolved at info", async () => {
    let open = true;
    const { at, lines } = scriptedMonitor({ read: () => ({ breakerState: open ? "open" : "closed" }) });
    const first = await at(0);
    expect(state(first, "cache_breaker_open")).toMatchObject({
      state: "pending",
      value: 2,
      threshold: 1,
      since: new Date(1_700_000_000_000).toISOString(),
    });
    expect(first.evaluatedAt).toBe(new Date(1_700_000_000_000).toISOString());
    expect(state(await at(15_000), "cache_breaker_open").state).toBe("pending");
    expect(state(await at(30_000), "cache_breaker_open").state).toBe("firing");
    open = false;
    expect(state(await at(45_000), "cache_breaker_open").state).toBe("ok");

    const transitions = lines.filter((line) => typeof line.msg === "string" && line.msg.startsWith("alert "));
    expect(transitions.map((line) => [line.level, line.msg])).toEqual([
      [50, "alert firing: cache_breaker_open: cache circuit breaker is open"],
      [30, "alert resolved: cache_breaker_open: cache circuit breaker is closed"],
    ]);
    expect(transitions[0]!.alert).toEqual({ id: "cache_breaker_open", severity: "critical", value: 2, threshold: 1 });
  });

  it("logs a low rule at info", async () => {
    const { at, lines } = scriptedMonitor({ read: (t) => ({ wsSlowConsumerCloses: t > 0 ? 3 : 0 }) });
    await at(0);
    await at(15_000);
    expect(
      lines.find(
        (line) => line.msg === "alert firing: ws_slow_consumers: 3 slow WebSocket consumers closed in the last 15 s",
      )?.level,
    ).toBe(30);
  });

  it("a rule that throws is reported with its error, keeps its state (a firing alert stays firing), and the others still run", async () => {
    let throws = false;
    const flaky: AlertRule = {
      id: "flaky",
      severity: "medium",
      description: "fires, then throws",
      threshold: 0,
      forMs: 0,
      evaluate: () => {
        if (throws) throw new Error("boom");
        return { firing: true, value: 1, message: "holds" };
      },
    };
    const { at, lines } = scriptedMonitor({
      rules: [flaky, ...buildAlertRules()],
      read: () => ({ breakerState: "open" }),
    });
    expect(state(await at(0), "flaky").state).toBe("firing");
    throws = true;
    const report = await at(15_000);
    expect(state(report, "flaky")).toMatchObject({ state: "firing", message: "rule failed: boom", value: null });
    expect(state(report, "cache_breaker_open").state).toBe("pending");
    expect(lines.some((line) => line.msg === "alert rule failed to evaluate")).toBe(true);
    expect(lines.some((line) => line.msg === "alert resolved: flaky: rule failed: boom")).toBe(false);
  });

  it("an unknown reading keeps a firing alert firing (no resolved line) until a known reading says it stopped", async () => {
    let breaker: "open" | "closed" | null = "open";
    const { at, lines } = scriptedMonitor({ read: () => ({ breakerState: breaker }) });
    await at(0);
    expect(state(await at(30_000), "cache_breaker_open").state).toBe("firing");
    breaker = null;
    const blind = await at(45_000);
    expect(state(blind, "cache_breaker_open")).toMatchObject({
      state: "firing",
      value: null,
      message: "the breaker state is unknown",
    });
    expect(state(await at(60_000), "cache_breaker_open").state).toBe("firing");
    breaker = "closed";
    expect(state(await at(75_000), "cache_breaker_open").state).toBe("ok");
    const resolved = lines.filter((line) => typeof line.msg === "string" && line.msg.startsWith("alert resolved"));
    expect(resolved.map((line) => line.msg)).toEqual([
      "alert resolved: cache_breaker_open: cache circuit breaker is closed",
    ]);
  });

  it("compares a counter with the oldest sample in the window that has it, even when the oldest one's read failed", async () => {
    // The first sample has no WebSocket reading (endpoint not attached yet); then 0, then 2 closes.
    const { at } = scriptedMonitor({ read: (t) => ({ wsSlowConsumerCloses: t === 0 ? null : t >= 30_000 ? 2 : 0 }) });
    await at(0);
    expect(state(await at(15_000), "ws_slow_consumers")).toMatchObject({ state: "ok", value: null });
    const report = await at(30_000);
    expect(state(report, "ws_slow_consumers")).toMatchObject({ state: "firing", value: 2 });
    expect(state(report, "ws_slow_consumers").message).toBe("2 slow WebSocket consumers closed in the last 15 s");
  });

  it("start() evaluates every intervalMs; after close() no evaluation runs (fake timers count them)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      let reads = 0;
      const monitor = new AlertMonitor({
        rules: buildAlertRules(),
        sample: async (at) => {
          reads += 1;
          return sample(at);
        },
        logger: capturingLogger().logger,
        intervalMs: 10,
      });
      monitor.start();
      await vi.advanceTimersByTimeAsync(55);
      // At 0, 10, 20, 30, 40, 50 ms.
      expect(reads).toBe(6);
      await monitor.close();
      await vi.advanceTimersByTimeAsync(1_000);
      expect(reads).toBe(6);
      monitor.start();
      await vi.advanceTimersByTimeAsync(1_000);
      expect(reads).toBe(6);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("close() during an evaluation in flight waits for it and schedules no further one", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      let reads = 0;
      const monitor = new AlertMonitor({
        rules: buildAlertRules(),
        // Each sample takes 5 ms (on the fake clock).
        sample: async (at) => {
          reads += 1;
          await new Promise((resolve) => setTimeout(resolve, 5));
          return sample(at);
        },
        logger: capturingLogger().logger,
        intervalMs: 10,
      });
      monitor.start();
      await vi.advanceTimersByTimeAsync(2);
      expect(reads).toBe(1);
      const closing = monitor.close();
      await vi.advanceTimersByTimeAsync(5);
      await closing;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(reads).toBe(1);
      expect(monitor.lastSample()).toBeDefined();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("concurrent evaluations share one sample; start() evaluates at once and close() stops the timer", async () => {
    let reads = 0;
    const { logger } = capturingLogger();
    const monitor = new AlertMonitor({
      rules: buildAlertRules(),
      sample: async (at) => {
        reads += 1;
        return sample(at);
      },
      logger,
      intervalMs: 3_600_000,
    });
    await Promise.all([monitor.evaluate(), monitor.evaluate()]);
    expect(reads).toBe(1);
    expect(monitor.report().webhook).toBeNull();

    monitor.start();
    await vi.waitFor(() => expect(reads).toBe(2));
    await monitor.close();
    monitor.start();
    expect(reads).toBe(2);
    expect(monitor.lastSample()?.readiness).toEqual([{ name: "redis", up: true }]);
  });
});
