import { describe, expect, it } from "vitest";
import { LogThrottle } from "../../../backend/src/logging/log-throttle.ts";

describe("LogThrottle", () => {
  it("admits one line per key per interval and reports how many were left out", () => {
    let now = 0;
    const throttle = new LogThrottle({ intervalMs: 1_000, now: () => now });
    expect(throttle.admit("E_DEPENDENCY_UNAVAILABLE")).toBe(0);
    for (let i = 0; i < 99; i += 1) expect(throttle.admit("E_DEPENDENCY_UNAVAILABLE")).toBeUndefined();
    expect(throttle.admit("E_CACHE_UNAVAILABLE")).toBe(0);
    now = 1_000;
    expect(throttle.admit("E_DEPENDENCY_UNAVAILABLE")).toBe(99);
    expect(throttle.admit("E_DEPENDENCY_UNAVAILABLE")).toBeUndefined();
  });

  it("remembers at most maxKeys keys", () => {
    const throttle = new LogThrottle({ maxKeys: 2, now: () => 0 });
    throttle.admit("a");
    throttle.admit("b");
    throttle.admit("c");
    // "a" was forgotten: admitted again at once.
    expect(throttle.admit("a")).toBe(0);
    expect(throttle.admit("c")).toBeUndefined();
  });
});
