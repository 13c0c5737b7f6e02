import { once } from "node:events";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { Command } from "commander";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import {
  openApiKeyService,
  registerApiKeysCommand,
  type ApiKeysCommandDependencies,
} from "../../../backend/src/cli/api-keys-command.ts";
import { apiKeyRevokedChannel } from "../../../backend/src/pubsub/api-key-revoked.ts";
import {
  randomSnowflake,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  testConfig,
  testLogger,
  uniquePrefix,
} from "../../support/test-env.ts";
import { startAuthInstance, type AuthInstance } from "./auth-instance.ts";

/** Runs one `keys ...` CLI line on a fresh commander program and returns what it printed. */
async function cli(open: ApiKeysCommandDependencies["open"], ...args: string[]): Promise<string> {
  let output = "";
  const program = new Command()
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerApiKeysCommand(program, { open, write: (text) => void (output += text) });
  await program.parseAsync(["node", "spywatcher", ...args]);
  return output;
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("API key revocation reaches every instance at once (real Redis pub/sub, real PostgreSQL)", () => {
  const keyPrefix = uniquePrefix("auth-rev");
  let a: AuthInstance;
  let b: AuthInstance;
  // B's key service clock stands still unless a test moves it: B's 10 s lookup cache can only end by a broadcast.
  let bClock = Date.now();

  beforeAll(async () => {
    a = await startAuthInstance({ databaseUrl: TEST_DATABASE_URL, keyPrefix });
    b = await startAuthInstance({ databaseUrl: TEST_DATABASE_URL, keyPrefix, now: () => bClock });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  /** A fresh guild-scoped key that B has verified (so B holds it in its lookup cache). */
  async function keyVerifiedByB(name: string) {
    const guildId = randomSnowflake();
    const { record, secret } = await a.keys.createKey({ name, guildIds: [guildId] });
    await b.getAnalytic(guildId, secret).expect(200);
    return { id: record.id, secret, guildId };
  }

  it("revoked on instance A: instance B rejects the key as soon as the broadcast arrives, not after 10 s", async ({
    annotate,
  }) => {
    const key = await keyVerifiedByB("revoke on A");
    const applied = b.nextRevocation(key.id);
    const started = performance.now();
    const revoked = await a.keys.revokeKey(key.id);
    await applied;
    const elapsedMs = performance.now() - started;
    expect(revoked.broadcast).toBe("published");
    const res = await b.getAnalytic(key.guildId, key.secret).expect(401);
    expect(res.body.error.code).toBe("E_UNAUTHORIZED");
    // The revoke (a PostgreSQL write) plus the broadcast, measured: milliseconds, far below the 10 s lookup TTL.
    expect(elapsedMs).toBeLessThan(2_000);
    await annotate(`revokeKey on A to revocation applied on B: ${elapsedMs.toFixed(1)} ms`);
  });

  it("the broadcast carries the key id and time only: never the secret or its hash", async () => {
    const key = await keyVerifiedByB("payload");
    const listener = new Redis(TEST_REDIS_URL);
    try {
      await listener.subscribe(apiKeyRevokedChannel(keyPrefix));
      const message = once(listener, "message") as Promise<[string, string]>;
      await a.keys.revokeKey(key.id);
      const [, raw] = await message;
      const payload = JSON.parse(raw) as Record<string, unknown>;
      expect(Object.keys(payload).sort()).toEqual(["at", "keyId"]);
      expect(payload.keyId).toBe(key.id);
      const row = await a.prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } });
      expect(raw).not.toContain(key.secret.slice(3));
      expect(raw).not.toContain(row.keyHash);
    } finally {
      listener.disconnect();
    }
  });

  it("`keys revoke` from the CLI broadcasts too, and says so", async () => {
    const key = await keyVerifiedByB("revoke from cli");
    const applied = b.nextRevocation(key.id);
    const output = await cli(
      () => openApiKeyService(testConfig({ REDIS_KEY_PREFIX: keyPrefix })),
      "keys",
      "revoke",
      key.id,
    );
    expect(output).toContain(`Revoked API key ${key.id}`);
    expect(output).toMatch(/told through Redis pub\/sub \(\d+ listening\) and reject it at once/);
    await applied;
    await b.getAnalytic(key.guildId, key.secret).expect(401);
  });

  it("with Redis unreachable the CLI still revokes (and says so); other instances follow within the 10 s lookup TTL", async ({
    annotate,
  }) => {
    const key = await keyVerifiedByB("revoke without redis");
    const config = testConfig({
      REDIS_KEY_PREFIX: keyPrefix,
      REDIS_URL: `redis://127.0.0.1:${await closedPort()}/0`,
      REDIS_CONNECT_TIMEOUT_MS: "300",
    });
    const started = performance.now();
    const output = await cli(() => openApiKeyService(config), "keys", "revoke", key.id);
    const elapsedMs = performance.now() - started;
    // Bounded by the connect timeout (waiting for ready, then for the PUBLISH) plus closing.
    expect(elapsedMs).toBeLessThan(3_000);
    await annotate(`keys revoke with Redis unreachable (REDIS_CONNECT_TIMEOUT_MS=300): ${elapsedMs.toFixed(0)} ms`);
    expect(output).toContain(`Revoked API key ${key.id}`);
    expect(output).toContain(
      "Redis was unreachable, so running API instances were not told: they reject it within 10 s.",
    );
    expect((await a.prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } })).revokedAt).toBeInstanceOf(Date);

    // B heard nothing: its cached lookup still answers until the TTL, then PostgreSQL says "revoked".
    await b.getAnalytic(key.guildId, key.secret).expect(200);
    bClock += 10_001;
    await b.getAnalytic(key.guildId, key.secret).expect(401);
  });

  it("after B's subscriber reconnects, every lookup it cached is checked again (a revocation missed meanwhile does not linger)", async () => {
    const key = await keyVerifiedByB("missed broadcast");
    // Revoked without a broadcaster: what B sees when the broadcast is lost while its subscriber is disconnected.
    const silent = new ApiKeyService({ prisma: a.prisma, logger: testLogger() });
    expect((await silent.revokeKey(key.id)).broadcast).toBe("disabled");
    await b.getAnalytic(key.guildId, key.secret).expect(200);

    const reconnected = once(b.redis.subscriber, "ready");
    b.redis.subscriber.disconnect(true);
    await reconnected;
    await b.getAnalytic(key.guildId, key.secret).expect(401);
  });
});
