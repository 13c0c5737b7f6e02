import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import express from "express";
import type { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthRegistry } from "../../../backend/src/health/health-registry.ts";
import { redisClusterProbe } from "../../../backend/src/health/redis-cluster-check.ts";
import { healthRoutes } from "../../../backend/src/http/health-routes.ts";
import { startRedisCluster, type RedisClusterHandle } from "../../support/redis-cluster.ts";

/** HEALTH_CHECK_TIMEOUT_MS's default; each master gets 80% of it, as the service wires it. */
const CHECK_TIMEOUT_MS = 1_000;

/** Issue 14: `/health/ready` on a cluster checks every master, answers the same for the same state, shows each. */
describe("/health/ready's Redis check on a 6-node cluster", () => {
  let cluster: RedisClusterHandle;
  let client: Cluster;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    // A long node timeout: no failover while a master is frozen here, so the state stays the same for the test.
    cluster = await startRedisCluster({ nodeTimeoutMs: 15_000 });
    client = cluster.client({ redisOptions: { commandTimeout: 250 } });
    await new Promise<void>((resolve) => client.once("ready", () => resolve()));
    const registry = new HealthRegistry().register({
      name: "redis",
      group: "infrastructure",
      priority: 100,
      critical: true,
      timeoutMs: CHECK_TIMEOUT_MS,
      retry: { attempts: 1, initialDelayMs: 50, maxDelayMs: 500 },
      cacheTtlMs: 0,
      probe: redisClusterProbe(client, CHECK_TIMEOUT_MS * 0.8),
    });
    const app = express();
    app.use("/health", healthRoutes({ registry }));
    server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await cluster?.stop();
  });

  const ready = async () => {
    const started = performance.now();
    const res = await fetch(`${base}/health/ready`);
    const body = (await res.json()) as {
      status: string;
      checks: {
        redis: {
          status: string;
          error?: string;
          masters?: { slots: string; status: string; clusterState?: string; error?: string }[];
        };
      };
    };
    return { code: res.status, body, ms: performance.now() - started };
  };

  it("healthy: 200, every master up with cluster_state ok, named by slot range without any address", async () => {
    const { code, body } = await ready();
    expect(code).toBe(200);
    expect(body.checks.redis.masters).toEqual([
      { slots: expect.stringMatching(/^0-\d+$/), status: "up", clusterState: "ok" },
      { slots: expect.stringMatching(/^\d+-\d+$/), status: "up", clusterState: "ok" },
      { slots: expect.stringMatching(/^\d+-16383$/), status: "up", clusterState: "ok" },
    ]);
    expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|:\d{4,5}\b/);
  });

  it("with a master frozen: the same answer four times in a row (degraded, that master down), each within the timeout", async ({
    annotate,
  }) => {
    const victim = await cluster.freezeMaster();
    try {
      const answers = [];
      for (let i = 0; i < 4; i += 1) answers.push(await ready());
      const shapes = answers.map(({ code, body }) => ({
        code,
        status: body.checks.redis.status,
        masters: body.checks.redis.masters?.map((master) => `${master.slots} ${master.status}`),
      }));
      expect(new Set(shapes.map((shape) => JSON.stringify(shape))).size).toBe(1);
      expect(shapes[0]!.code).toBe(200);
      expect(shapes[0]!.status).toBe("degraded");
      expect(shapes[0]!.masters!.filter((master) => master.endsWith(" down"))).toHaveLength(1);
      expect(answers[0]!.body.checks.redis.error).toMatch(/1 of 3 masters down/);
      expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(CHECK_TIMEOUT_MS + 250);
      await annotate(
        `4 answers: ${JSON.stringify(shapes[0])}, slowest ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms`,
      );
    } finally {
      cluster.thaw(victim);
    }
    const { code, body } = await ready();
    expect(code).toBe(200);
    expect(body.checks.redis.status).toBe("up");
  });
});
