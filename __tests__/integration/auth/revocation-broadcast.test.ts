import { performance } from "node:perf_hooks";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { redisRevocationBroadcaster } from "../../../backend/src/auth/key-revocation-broadcast.ts";
import { openApiKeyService, registerApiKeysCommand } from "../../../backend/src/cli/api-keys-command.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { createRedisConnections } from "../../../backend/src/redis/redis-connections.ts";
import { ThrowawayRedis } from "../../support/redis-server.ts";
import { TEST_DATABASE_URL, testConfig, testLogger, uniquePrefix } from "../../support/test-env.ts";

const TIMEOUT_MS = 600;

describe("revocation broadcast: bounded in total, and honest about who heard it", () => {
  let redis: ThrowawayRedis;
  let prisma: PrismaClient;
  let keys: ApiKeyService;

  beforeAll(async () => {
    redis = await ThrowawayRedis.start();
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 1 });
    keys = new ApiKeyService({ prisma, logger: testLogger() });
  });
  afterAll(async () => {
    await redis?.kill();
    await prisma?.$disconnect();
  });

  it("a connection that gets ready late and a PUBLISH that then hangs: rejected within timeoutMs in total, not twice it", async ({
    annotate,
  }) => {
    // Frozen first: the TCP connection is accepted by the kernel, the ready check waits.
    redis.freeze();
    const connections = createRedisConnections(
      { url: redis.url, connectTimeoutMs: 5_000, commandTimeoutMs: 5_000 },
      testLogger(),
    );
    try {
      // Ready at about 0.7 x the timeout, frozen again at once: the PUBLISH that follows never gets an answer.
      const thawTimer = setTimeout(() => redis.thaw(), TIMEOUT_MS * 0.7);
      connections.client.once("ready", () => redis.freeze());
      const broadcaster = redisRevocationBroadcaster({
        client: connections.client,
        keyPrefix: uniquePrefix("bc"),
        timeoutMs: TIMEOUT_MS,
      });
      const started = performance.now();
      await expect(
        broadcaster.publish({ keyId: "00000000-0000-4000-8000-000000000000", at: new Date().toISOString() }),
      ).rejects.toThrow();
      const elapsedMs = performance.now() - started;
      clearTimeout(thawTimer);
      await annotate(
        `publish with a late ready and a hung PUBLISH, timeoutMs ${TIMEOUT_MS}: rejected after ${elapsedMs.toFixed(0)} ms`,
      );
      expect(connections.client.status).toBe("ready");
      expect(elapsedMs).toBeLessThan(TIMEOUT_MS + 150);
    } finally {
      redis.thaw();
      await connections.close();
    }
  });

  it("publish reports how many subscribers Redis delivered it to", async () => {
    const connections = createRedisConnections({ url: redis.url }, testLogger());
    const keyPrefix = uniquePrefix("bc");
    try {
      const broadcaster = redisRevocationBroadcaster({ client: connections.client, keyPrefix, timeoutMs: TIMEOUT_MS });
      const revocation = { keyId: "00000000-0000-4000-8000-000000000000", at: new Date().toISOString() };
      expect(await broadcaster.publish(revocation)).toBe(0);
      await connections.subscriber.subscribe(`${keyPrefix}:auth:revoked`);
      expect(await broadcaster.publish(revocation)).toBe(1);
    } finally {
      await connections.close();
    }
  });

  it("`keys revoke` with Redis up but no instance listening does not claim instances reject it at once", async () => {
    const { record } = await keys.createKey({ name: "nobody listening", admin: true });
    let output = "";
    const program = new Command()
      .exitOverride()
      .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    const config = testConfig({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix("nobody") });
    registerApiKeysCommand(program, { open: () => openApiKeyService(config), write: (text) => void (output += text) });
    await program.parseAsync(["node", "spywatcher", "keys", "revoke", record.id]);
    expect(output).toContain(`Revoked API key ${record.id}`);
    expect(output).not.toContain("at once");
    expect(output).toContain("no running API instance was listening");
    expect(output).toContain("within 10 s");
  });
});
