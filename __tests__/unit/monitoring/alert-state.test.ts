import { describe, expect, it } from "vitest";
import type { AlertEvaluation, AlertRule } from "../../../backend/src/monitoring/alert-rules.ts";
import { AlertStateTracker } from "../../../backend/src/monitoring/alert-state.ts";

function testRule(forMs: number, id = "test_rule"): AlertRule {
  return {
    id,
    severity: "critical",
    description: "a test rule",
    threshold: 1,
    forMs,
    evaluate: () => ({ firing: false, value: null, message: "" }),
  };
}

const on = (value = 2): AlertEvaluation => ({ firing: true, value, message: `value ${value}` });
const off: AlertEvaluation = { firing: false, value: 0, message: "fine" };

describe("AlertStateTracker (the for state machine, clock injected)", () => {
  it("goes pending, fires once the condition held for `for`, and resolves when it stops", () => {
    const rule = testRule(30_000);
    const tracker = new AlertStateTracker([rule], 0);
    expect(tracker.statuses()[0]).toMatchObject({ state: "ok", since: 0, message: "not evaluated yet" });

    expect(tracker.apply(rule, on(), 1_000)).toBeUndefined();
    expect(tracker.statuses()[0]).toMatchObject({ state: "pending", since: 1_000, value: 2 });
    expect(tracker.apply(rule, on(), 30_999)).toBeUndefined();
    expect(tracker.statuses()[0]!.state).toBe("pending");

    const fired = tracker.apply(rule, on(3), 31_000);
    expect(fired).toEqual({
      id: "test_rule",
      severity: "critical",
      description: "a test rule",
      state: "firing",
      since: 1_000,
      value: 3,
      threshold: 1,
      message: "value 3",
    });
    expect(tracker.statuses()[0]).toMatchObject({ state: "firing", since: 31_000 });
    // Still firing: nothing new to announce, the value follows.
    expect(tracker.apply(rule, on(4), 46_000)).toBeUndefined();
    expect(tracker.statuses()[0]).toMatchObject({ state: "firing", value: 4 });

    const resolved = tracker.apply(rule, off, 61_000);
    expect(resolved).toMatchObject({ state: "resolved", since: 61_000, value: 0, message: "fine" });
    expect(tracker.statuses()[0]).toMatchObject({ state: "ok", since: 61_000 });
    expect(tracker.apply(rule, off, 76_000)).toBeUndefined();
  });

  it("a condition that stops before `for` goes back to ok without a transition, and the wait starts over", () => {
    const rule = testRule(30_000);
    const tracker = new AlertStateTracker([rule], 0);
    tracker.apply(rule, on(), 0);
    expect(tracker.apply(rule, off, 15_000)).toBeUndefined();
    expect(tracker.statuses()[0]!.state).toBe("ok");
    expect(tracker.apply(rule, on(), 20_000)).toBeUndefined();
    expect(tracker.apply(rule, on(), 45_000)).toBeUndefined();
    expect(tracker.apply(rule, on(), 50_000)).toMatchObject({ state: "firing", since: 20_000 });
  });

  it("an unknown verdict keeps the state: a firing alert stays firing, a pending one keeps its start", () => {
    const unknown: AlertEvaluation = {
      firing: false,
      value: null,
      message: "Redis memory unknown: timed out",
      unknown: true,
    };
    const rule = testRule(30_000);
    const tracker = new AlertStateTracker([rule], 0);
    tracker.apply(rule, on(), 0);
    expect(tracker.apply(rule, unknown, 15_000)).toBeUndefined();
    expect(tracker.statuses()[0]).toMatchObject({
      state: "pending",
      since: 0,
      value: null,
      message: "Redis memory unknown: timed out",
    });
    // The wait started at 0 still counts: firing at 30 s, since 0.
    expect(tracker.apply(rule, on(), 30_000)).toMatchObject({ state: "firing", since: 0 });

    expect(tracker.apply(rule, unknown, 45_000)).toBeUndefined();
    expect(tracker.apply(rule, unknown, 60_000)).toBeUndefined();
    expect(tracker.statuses()[0]).toMatchObject({ state: "firing", since: 30_000 });
    expect(tracker.firing().map((t) => [t.id, t.state, t.since])).toEqual([["test_rule", "firing", 0]]);
    // Only a known "does not hold" resolves it.
    expect(tracker.apply(rule, off, 75_000)).toMatchObject({ state: "resolved", since: 75_000 });
    expect(tracker.firing()).toEqual([]);

    // From ok, unknown does not start a wait either.
    expect(tracker.apply(rule, unknown, 90_000)).toBeUndefined();
    expect(tracker.statuses()[0]!.state).toBe("ok");
  });

  it("fires at once when `for` is 0", () => {
    const rule = testRule(0);
    const tracker = new AlertStateTracker([rule], 0);
    expect(tracker.apply(rule, on(), 5)).toMatchObject({ state: "firing", since: 5 });
    expect(tracker.statuses()[0]!.state).toBe("firing");
  });

  it("keeps rules apart and reports them in rule order", () => {
    const a = testRule(0, "a");
    const b = testRule(10, "b");
    const tracker = new AlertStateTracker([a, b], 0);
    tracker.apply(b, on(), 0);
    tracker.apply(a, off, 0);
    expect(tracker.statuses().map((s) => [s.id, s.state])).toEqual([
      ["a", "ok"],
      ["b", "pending"],
    ]);
    expect(() => tracker.apply(testRule(0, "c"), on(), 0)).toThrow("unknown alert rule c");
  });
});
