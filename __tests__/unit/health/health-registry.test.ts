import { describe, expect, it } from "vitest";
import type { HealthCheckDefinition } from "../../../backend/src/health/health-check.ts";
import { HealthRegistry } from "../../../backend/src/health/health-registry.ts";
import { withoutAddresses } from "../../../backend/src/http/health-routes.ts";

function definition(overrides: Partial<HealthCheckDefinition>): HealthCheckDefinition {
  return {
    name: "probe",
    group: "test",
    timeoutMs: 200,
    retry: { attempts: 3, initialDelayMs: 20, maxDelayMs: 30 },
    cacheTtlMs: 0,
    priority: 1,
    critical: true,
    probe: async () => undefined,
    ...overrides,
  };
}

describe("HealthRegistry", () => {
  it("retries with exponential backoff capped at maxDelayMs, then reports down with the attempts", async () => {
    const calls: number[] = [];
    const registry = new HealthRegistry().register(
      definition({
        probe: async () => {
          calls.push(performance.now());
          throw new Error("nope");
        },
      }),
    );
    const result = await registry.run("probe");
    expect(result).toMatchObject({ status: "down", attempts: 3, error: "nope" });
    expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(18);
    expect(calls[2]! - calls[1]!).toBeGreaterThanOrEqual(28); // 40 capped to 30
  });

  it("a probe past its timeout is a failed attempt; a later success is up with the attempts it took", async () => {
    let call = 0;
    const registry = new HealthRegistry().register(
      definition({
        timeoutMs: 50,
        probe: () => (++call === 1 ? new Promise<void>(() => undefined) : Promise.resolve()),
      }),
    );
    expect(await registry.run("probe")).toMatchObject({ status: "up", attempts: 2 });
  });

  it("shares one run between concurrent callers and caches for the TTL", async () => {
    let probes = 0;
    const registry = new HealthRegistry().register(
      definition({ cacheTtlMs: 60_000, probe: async () => void (probes += 1) }),
    );
    await Promise.all([registry.run("probe"), registry.run("probe"), registry.run("probe")]);
    const again = await registry.run("probe");
    expect(probes).toBe(1);
    expect(again.cached).toBe(true);
    await registry.run("probe", { fresh: true });
    expect(probes).toBe(2);
  });

  it("is unavailable only when a critical check is down", async () => {
    const registry = new HealthRegistry()
      .register(
        definition({
          name: "a",
          critical: false,
          retry: { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
          probe: async () => Promise.reject(new Error("x")),
        }),
      )
      .register(definition({ name: "b", probe: async () => ({ status: "degraded", message: "slow" }) }));
    const summary = await registry.runAll();
    expect(summary).toMatchObject({ status: "degraded", failing: [], degraded: ["a", "b"] });
  });

  it("strips addresses and ports from public errors", () => {
    expect(withoutAddresses("connect ECONNREFUSED 127.0.0.1:6379")).toBe("connect ECONNREFUSED <redacted>");
    expect(withoutAddresses("getaddrinfo ENOTFOUND redis.internal.example")).toBe("getaddrinfo ENOTFOUND <redacted>");
    expect(withoutAddresses("Can't reach database server at `db.prod.local:5432`")).not.toMatch(/5432|prod/);
    expect(withoutAddresses("not connected (connection status: reconnecting)")).toBe(
      "not connected (connection status: reconnecting)",
    );
  });
});
