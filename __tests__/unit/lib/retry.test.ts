import { describe, expect, it } from "vitest";
import { backoffDelayMs, retry, sleep } from "../../../backend/src/lib/retry.ts";

describe("backoffDelayMs", () => {
  it("doubles from the first delay up to the ceiling; jitter takes off at most its share", () => {
    expect([1, 2, 3, 4, 5, 30].map((attempt) => backoffDelayMs(attempt, { initialMs: 50, maxMs: 500 }))).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
    expect(backoffDelayMs(20, { initialMs: 500 })).toBe(500 * 2 ** 19);
    expect(backoffDelayMs(2, { initialMs: 100, maxMs: 1_000, jitter: 0.5 }, () => 0)).toBe(100);
    expect(backoffDelayMs(2, { initialMs: 100, maxMs: 1_000, jitter: 0.5 }, () => 1)).toBe(200);
    expect(backoffDelayMs(3, { initialMs: 100, maxMs: 1_000, jitter: 0.2 }, () => 0.5)).toBe(360);
  });
});

describe("retry", () => {
  it("retries failures within the attempts and returns the first success", async () => {
    const seen: number[] = [];
    const retried: [number, number][] = [];
    const result = await retry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw new Error(`failure ${attempt}`);
        return "done";
      },
      {
        attempts: 5,
        backoff: { initialMs: 1 },
        onRetry: (_error, attempt, delayMs) => retried.push([attempt, delayMs]),
      },
    );
    expect(result).toBe("done");
    expect(seen).toEqual([1, 2, 3]);
    expect(retried).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  it("throws the last failure once the attempts are used, or at once when shouldRetry says no", async () => {
    let calls = 0;
    await expect(
      retry(
        async (attempt) => {
          calls++;
          throw new Error(`failure ${attempt}`);
        },
        {
          attempts: 3,
          backoff: { initialMs: 1 },
        },
      ),
    ).rejects.toThrow("failure 3");
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw new Error("permanent");
        },
        {
          backoff: { initialMs: 1 },
          shouldRetry: (error) => (error as Error).message !== "permanent",
        },
      ),
    ).rejects.toThrow("permanent");
    expect(calls).toBe(1);
  });

  it("an abort ends the wait at once and throws the attempt's failure", async () => {
    const controller = new AbortController();
    const started = performance.now();
    const running = retry(async () => Promise.reject(new Error("down")), {
      backoff: { initialMs: 60_000 },
      signal: controller.signal,
      onRetry: () => queueMicrotask(() => controller.abort(new Error("stopping"))),
    });
    await expect(running).rejects.toThrow("down");
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("sleep rejects with the signal's reason when aborted, at once when already aborted", async () => {
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    controller.abort(new Error("why"));
    await expect(waiting).rejects.toThrow("why");
    await expect(sleep(10, controller.signal)).rejects.toThrow("why");
    await expect(sleep(1)).resolves.toBeUndefined();
  });
});
