import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError, environmentSchema, loadConfig } from "../../../backend/src/config/config.ts";

describe("loadConfig", () => {
  it("runs with no environment at all, on local defaults", () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(3001);
    expect(config.database.url).toBe("postgresql://postgres@127.0.0.1:5432/spywatcher");
    expect(config.redis.url).toBe("redis://127.0.0.1:6379/0");
    expect(config.redis.protocol).toBe(2);
    expect(config.redis.clusterNodes).toBeUndefined();
  });

  it("reads cache durations as seconds when plain numbers, or with their unit", () => {
    const cache = loadConfig({
      CACHE_DEFAULT_TTL: "300",
      CACHE_GRACE: "500ms",
      CACHE_SOFT_TIMEOUT: "1.5",
      CACHE_HARD_TIMEOUT: "2m",
    }).cache;
    expect(cache).toMatchObject({ defaultTtlMs: 300_000, graceMs: 500, softTimeoutMs: 1_500, hardTimeoutMs: 120_000 });
    expect(() => loadConfig({ CACHE_DEFAULT_TTL: "5 minutes" })).toThrowError(/CACHE_DEFAULT_TTL: must be seconds/);
  });

  it("demo mode is explicit: on without a token outside production, refused in production unless asked for", () => {
    expect(loadConfig({}).discord.demo).toBe(true);
    expect(loadConfig({ DISCORD_TOKEN: "t" }).discord.demo).toBe(false);
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrowError(/DISCORD_TOKEN: is required in production/);
    expect(loadConfig({ NODE_ENV: "production", SPYWATCHER_DEMO: "true" }).discord.demo).toBe(true);
    expect(loadConfig({ NODE_ENV: "production", DISCORD_TOKEN: "t" }).discord.demo).toBe(false);
    expect(loadConfig({ NODE_ENV: "production", DISCORD_ENABLED: "false" }).discord.enabled).toBe(false);
    expect(() => loadConfig({ SPYWATCHER_DEMO: "false" })).toThrowError(
      /DISCORD_TOKEN: is required when SPYWATCHER_DEMO=false/,
    );
  });

  it("names the variable when PORT is not a number", () => {
    expect(() => loadConfig({ PORT: "abc" })).toThrowError(/PORT/);
  });

  it("names the variable when DATABASE_URL is malformed", () => {
    expect(() => loadConfig({ DATABASE_URL: "mysql//nope" })).toThrowError(/DATABASE_URL: must be a postgresql/);
  });

  it("reports every bad variable at once", () => {
    try {
      loadConfig({ PORT: "99999", REDIS_URL: "http://x", LOG_LEVEL: "loud", REDIS_CLUSTER_NODES: "a:1,b" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const variables = (error as ConfigError).issues.map((issue) => issue.variable).sort();
      expect(variables).toEqual(["LOG_LEVEL", "PORT", "REDIS_CLUSTER_NODES", "REDIS_URL"]);
    }
  });

  it("names CACHE_CB_MIN_RECOVERY_TIMEOUT when it exceeds CACHE_CB_RECOVERY_TIMEOUT", () => {
    expect(() => loadConfig({ CACHE_CB_MIN_RECOVERY_TIMEOUT: "20000" })).toThrow(
      /CACHE_CB_MIN_RECOVERY_TIMEOUT: must be at most CACHE_CB_RECOVERY_TIMEOUT \(10000\)/,
    );
    expect(
      loadConfig({ CACHE_CB_MIN_RECOVERY_TIMEOUT: "2000", CACHE_CB_RECOVERY_TIMEOUT: "4000" }).cache.breaker,
    ).toMatchObject({ minRecoveryTimeoutMs: 2_000, recoveryTimeoutMs: 4_000 });
  });

  it("parses a cluster node list and treats empty strings as unset", () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: "127.0.0.1:7000, 127.0.0.1:7001", PORT: "" });
    expect(config.redis.clusterNodes).toEqual(["127.0.0.1:7000", "127.0.0.1:7001"]);
    expect(config.http.port).toBe(3001);
  });

  it("documents every variable it reads in README.md's configuration table and in .env.example", () => {
    const names = Object.keys(environmentSchema.shape);
    expect(names.length).toBeGreaterThan(50);
    const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
    const example = readFileSync(new URL("../../../.env.example", import.meta.url), "utf8");
    expect(names.filter((name) => !readme.includes(`\`${name}\``))).toEqual([]);
    expect(names.filter((name) => !new RegExp(`^#? ?${name}=`, "m").test(example))).toEqual([]);
  });
});
