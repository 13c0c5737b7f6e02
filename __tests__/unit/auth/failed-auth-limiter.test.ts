import { describe, expect, it } from "vitest";
import { FailedAuthLimiter } from "../../../backend/src/auth/failed-auth-limiter.ts";

function limiterAt(options: { limit: number; maxClients?: number }) {
  let now = 1_000_000;
  const limiter = new FailedAuthLimiter({ ...options, windowMs: 60_000, now: () => now });
  return { limiter, advance: (ms: number) => void (now += ms) };
}

describe("FailedAuthLimiter", () => {
  it("limits an address after `limit` failures in a window, with the seconds left until it ends", () => {
    const { limiter, advance } = limiterAt({ limit: 3 });
    for (let i = 0; i < 3; i += 1) {
      expect(limiter.check("10.0.0.1")).toEqual({ limited: false });
      limiter.recordFailure("10.0.0.1");
    }
    advance(20_500);
    expect(limiter.check("10.0.0.1")).toEqual({ limited: true, retryAfterSeconds: 40 });
    expect(limiter.check("10.0.0.2")).toEqual({ limited: false });
    advance(39_500);
    expect(limiter.check("10.0.0.1")).toEqual({ limited: false });
  });

  it("counts IPv6 per /56 and IPv4-mapped addresses as IPv4", () => {
    const { limiter } = limiterAt({ limit: 2 });
    limiter.recordFailure("2001:db8:0:1::1");
    limiter.recordFailure("2001:db8:0:2::99");
    expect(limiter.check("2001:db8:0:3::5").limited).toBe(true);
    limiter.recordFailure("::ffff:10.0.0.7");
    limiter.recordFailure("10.0.0.7");
    expect(limiter.check("10.0.0.7").limited).toBe(true);
  });

  it("holds at most maxClients addresses, and a limit of 0 disables it", () => {
    const { limiter } = limiterAt({ limit: 1, maxClients: 100 });
    for (let i = 0; i < 1_000; i += 1) limiter.recordFailure(`10.9.${i >> 8}.${i & 255}`);
    expect(limiter.size).toBe(100);
    const off = limiterAt({ limit: 0 }).limiter;
    for (let i = 0; i < 10; i += 1) off.recordFailure("10.0.0.1");
    expect(off.check("10.0.0.1")).toEqual({ limited: false });
    expect(off.size).toBe(0);
  });
});
