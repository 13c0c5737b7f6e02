import { Command, CommanderError } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { openApiKeyService, registerApiKeysCommand } from "../../../backend/src/cli/api-keys-command.ts";
import { exitCodeOf } from "../../../backend/src/cli/cli-usage.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { randomSnowflake, TEST_DATABASE_URL, testConfig, testLogger } from "../../support/test-env.ts";

describe("keys CLI on a commander program, against real PostgreSQL", () => {
  let prisma: PrismaClient;
  let keys: ApiKeyService;
  let closes = 0;

  beforeAll(() => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    keys = new ApiKeyService({ prisma, logger: testLogger() });
  });
  afterAll(async () => {
    await keys?.whenIdle();
    await prisma?.$disconnect();
  });

  /** Runs one CLI line on a fresh program and returns what it printed. */
  async function cli(...args: string[]): Promise<string> {
    let output = "";
    const program = new Command()
      .exitOverride()
      .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerApiKeysCommand(program, {
      open: async () => ({ keys, close: async () => void (closes += 1) }),
      write: (text) => void (output += text),
    });
    await program.parseAsync(["node", "spywatcher", ...args]);
    return output;
  }

  it("create prints the key once; list shows only its prefix; revoke makes it fail", async () => {
    const guilds = [randomSnowflake(), randomSnowflake()];
    const created = JSON.parse(
      await cli("keys", "create", "--name", "dash", "--guild", guilds[0]!, "--guild", guilds[1]!, "--json"),
    );
    expect(created).toMatchObject({ name: "dash", scope: "guild", guildIds: guilds });
    expect(created.key).toMatch(/^sw_/);
    expect(await keys.authenticate(created.key)).toMatchObject({ scope: "guild", guildIds: guilds });

    const listed = await cli("keys", "list");
    expect(listed).toContain(created.id);
    expect(listed).toContain(`${created.key.slice(0, 11)}…`);
    expect(listed).not.toContain(created.key);
    const listedJson = JSON.parse(await cli("keys", "list", "--json")) as { id: string; keyHash?: string }[];
    const mine = listedJson.find((key) => key.id === created.id);
    expect(mine).toBeDefined();
    expect(mine).not.toHaveProperty("keyHash");

    expect(await cli("keys", "revoke", created.id)).toContain(`Revoked API key ${created.id}`);
    expect(await keys.authenticate(created.key)).toBeUndefined();
    expect(closes).toBeGreaterThanOrEqual(4);
  });

  it("create --admin prints a human message with the key", async () => {
    const text = await cli("keys", "create", "--name", "ops", "--admin");
    const key = /Key: (sw_\S+)/.exec(text)?.[1];
    expect(key).toBeDefined();
    expect(text).toContain("shown only once");
    expect(await keys.authenticate(key!)).toMatchObject({ scope: "admin" });
  });

  it("refuses a key with no scope (usage: exit 2, one line naming the options), with both scopes, and an unknown id (exit 1)", async () => {
    const noScope = await cli("keys", "create", "--name", "x").then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(noScope).toBeInstanceOf(CommanderError);
    expect(exitCodeOf(noScope as CommanderError)).toBe(2);
    expect((noScope as CommanderError).message).toBe(
      "error: required option '--admin' or '--guild <id...>' not specified",
    );
    await expect(cli("keys", "create", "--name", "x", "--admin", "--guild", randomSnowflake())).rejects.toBeInstanceOf(
      CommanderError,
    );
    await expect(cli("keys", "revoke", "00000000-0000-4000-8000-000000000000")).rejects.toMatchObject({
      exitCode: 1,
      code: "E_NOT_FOUND",
    });
    await expect(cli("keys", "create", "--name", "x", "--guild", "12")).rejects.toMatchObject({
      exitCode: 1,
      code: "E_VALIDATION",
    });
  });

  it("openApiKeyService connects to the configured database and closes", async () => {
    const opened = await openApiKeyService(testConfig());
    try {
      const { record } = await opened.keys.createKey({ name: "opened", admin: true });
      expect((await opened.keys.listKeys()).some((key) => key.id === record.id)).toBe(true);
    } finally {
      await opened.close();
    }
  });
});
