import { describe, expect, it } from "vitest";
import { AnalyticsQueryLimiter } from "../../../backend/src/analytics/analytics-query-limiter.ts";
import { AnalyticsBusyError } from "../../../backend/src/errors.ts";

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe("AnalyticsQueryLimiter", () => {
  it("runs at most maxConcurrent at once, queues maxQueued in order, refuses more at once with Retry-After", async () => {
    const limiter = new AnalyticsQueryLimiter({ maxConcurrent: 2, maxQueued: 1, retryAfterSeconds: 3 });
    const gates = [gate(), gate(), gate()];
    const order: number[] = [];
    const runs = gates.map((g, i) =>
      limiter.run(async () => {
        order.push(i);
        await g.opened;
        return i;
      }),
    );
    await Promise.resolve();
    expect(limiter.snapshot()).toEqual({ running: 2, waiting: 1 });
    expect(order).toEqual([0, 1]);
    const refused = limiter.run(async () => "never");
    await expect(refused).rejects.toBeInstanceOf(AnalyticsBusyError);
    await expect(refused).rejects.toMatchObject({ code: "E_ANALYTICS_BUSY", status: 503, retryAfterSeconds: 3 });

    gates[0]!.open();
    expect(await runs[0]).toBe(0);
    await Promise.resolve();
    expect(order).toEqual([0, 1, 2]); // the waiter got the freed slot
    expect(limiter.snapshot()).toEqual({ running: 2, waiting: 0 });
    gates[1]!.open();
    gates[2]!.open();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
    expect(limiter.snapshot()).toEqual({ running: 0, waiting: 0 });
  });

  it("a failing computation frees its slot", async () => {
    const limiter = new AnalyticsQueryLimiter({ maxConcurrent: 1, maxQueued: 0 });
    await expect(limiter.run(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await limiter.run(async () => "ok")).toBe("ok");
  });
});
