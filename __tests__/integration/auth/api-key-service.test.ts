import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { REDACTED_PATHS } from "../../../backend/src/logging/logger.ts";
import { randomSnowflake, TEST_DATABASE_URL } from "../../support/test-env.ts";

/** A logger that keeps every line, to prove secrets never reach the logs. */
function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: pino({ level: "trace", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, stream) };
}

describe("API keys against real PostgreSQL", () => {
  let prisma: PrismaClient;
  const { lines, logger } = capturingLogger();
  let clock = Date.now();
  let service: ApiKeyService;

  beforeAll(() => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    service = new ApiKeyService({ prisma, logger, now: () => clock, lastUsedThrottleMs: 60_000 });
  });
  afterAll(async () => {
    await service?.whenIdle();
    await prisma?.$disconnect();
  });

  it("stores only the hash and display prefix; the secret authenticates with its scope", async () => {
    const guildA = randomSnowflake();
    const guildB = randomSnowflake();
    const { record, secret } = await service.createKey({ name: "dashboard", guildIds: [guildA, guildB, guildA] });
    expect(secret).toMatch(/^sw_/);
    const row = await prisma.apiKey.findUniqueOrThrow({ where: { id: record.id } });
    expect(row.keyPrefix).toBe(secret.slice(0, 11));
    expect(row.keyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(row.guildIds).toEqual([guildA, guildB]);
    expect(await service.authenticate(secret)).toEqual({
      keyId: record.id,
      userId: `key:${record.id}`,
      name: "dashboard",
      scope: "guild",
      guildIds: [guildA, guildB],
    });
  });

  it("admin keys carry the admin scope; unknown and malformed keys are refused", async () => {
    const { record, secret } = await service.createKey({ name: "ops", admin: true });
    expect(await service.authenticate(secret)).toEqual({
      keyId: record.id,
      userId: `key:${record.id}`,
      name: "ops",
      scope: "admin",
    });
    expect(await service.authenticate(`${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`)).toBeUndefined();
    expect(await service.authenticate("not-a-key")).toBeUndefined();
    expect(await service.authenticate("")).toBeUndefined();
  });

  it("a revoked key stops working at once in this process, and in a fresh one", async () => {
    const { record, secret } = await service.createKey({ name: "revoke me", admin: true });
    expect(await service.authenticate(secret)).toBeDefined();
    const revoked = await service.revokeKey(record.id);
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect(await service.authenticate(secret)).toBeUndefined();
    const otherProcess = new ApiKeyService({ prisma, logger });
    expect(await otherProcess.authenticate(secret)).toBeUndefined();
    await expect(service.revokeKey("00000000-0000-4000-8000-000000000000")).rejects.toMatchObject({
      code: "E_NOT_FOUND",
    });
    await expect(service.revokeKey("nope")).rejects.toMatchObject({ code: "E_VALIDATION" });
  });

  it("records last use at most once per throttle window", async () => {
    const { record, secret } = await service.createKey({ name: "busy", admin: true });
    const lastUsed = async () => (await prisma.apiKey.findUniqueOrThrow({ where: { id: record.id } })).lastUsedAt;
    expect(await lastUsed()).toBeNull();
    const first = clock;
    await service.authenticate(secret);
    await service.whenIdle();
    expect((await lastUsed())?.getTime()).toBe(first);
    clock += 30_000;
    await service.authenticate(secret);
    await service.whenIdle();
    expect((await lastUsed())?.getTime()).toBe(first);
    clock += 31_000;
    await service.authenticate(secret);
    await service.whenIdle();
    expect((await lastUsed())?.getTime()).toBe(clock);
  });

  it("the bootstrap admin key works from memory only, and wrong keys do not", async () => {
    const adminApiKey = "bootstrap-admin-key-0123456789";
    const bootstrap = new ApiKeyService({ prisma, logger, adminApiKey });
    expect(await bootstrap.authenticate(adminApiKey)).toMatchObject({ scope: "admin", keyId: "bootstrap-admin" });
    expect(await bootstrap.authenticate(`${adminApiKey}x`)).toBeUndefined();
    expect(await prisma.apiKey.count({ where: { name: { contains: "bootstrap" } } })).toBe(0);
  });

  it("rejects bad input with coded errors", async () => {
    await expect(service.createKey({ name: "x" })).rejects.toMatchObject({ code: "E_VALIDATION" });
    await expect(service.createKey({ name: "x", admin: true, guildIds: [randomSnowflake()] })).rejects.toMatchObject({
      code: "E_VALIDATION",
    });
    await expect(service.createKey({ name: "x", guildIds: ["123"] })).rejects.toMatchObject({ code: "E_VALIDATION" });
    await expect(service.createKey({ name: " ", admin: true })).rejects.toMatchObject({ code: "E_VALIDATION" });
  });

  it("never logs a secret", async () => {
    const { secret } = await service.createKey({ name: "logged?", admin: true });
    await service.authenticate(secret);
    await service.whenIdle();
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join("")).not.toContain(secret);
    expect(lines.join("")).not.toContain(secret.slice(11));
  });
});
