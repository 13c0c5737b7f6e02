import { type Command, Option } from "commander";
import { pino } from "pino";
import {
  ApiKeyService,
  DEFAULT_LOOKUP_CACHE_TTL_MS,
  type ApiKeySummary,
  type RevokedApiKey,
} from "../auth/api-key-service.ts";
import { redisRevocationBroadcaster, type KeyRevocationBroadcaster } from "../auth/key-revocation-broadcast.ts";
import type { AppConfig } from "../config/config.ts";
import { openDatabase, openRedis } from "../composition/connections.ts";
import { REDACTED_PATHS } from "../logging/logger.ts";
import type { RedisConnections } from "../redis/redis-connections.ts";
import { usageError } from "./cli-usage.ts";
import { runWithOpened } from "./run-with-opened.ts";

/** An API key service opened for one CLI command, and how to close what it opened. */
export interface OpenedApiKeys {
  keys: Pick<ApiKeyService, "createKey" | "listKeys" | "revokeKey">;
  close(): Promise<void>;
}

/** What the `keys` commands need: a way to open the key service (called only when a command runs). */
export interface ApiKeysCommandDependencies {
  open: () => Promise<OpenedApiKeys>;
  /** Where results are written (default stdout). */
  write?: (text: string) => void;
}

/**
 * Opens the key service on the configured PostgreSQL, with revocations broadcast on the configured Redis (opened
 * only when a revocation is sent, waiting at most REDIS_CONNECT_TIMEOUT_MS in all for the connection and the
 * PUBLISH); logs (warnings only) go to stderr, never with secrets.
 */
export async function openApiKeyService(config: AppConfig): Promise<OpenedApiKeys> {
  const prisma = openDatabase(config, 1);
  const logger = pino({ level: "warn", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, pino.destination(2));
  let redis: RedisConnections | undefined;
  const revocationBroadcaster: KeyRevocationBroadcaster = {
    publish: (revocation) => {
      redis ??= openRedis(config, logger, "spywatcher-cli");
      return redisRevocationBroadcaster({
        client: redis.client,
        keyPrefix: config.redis.keyPrefix,
        timeoutMs: config.redis.connectTimeoutMs,
      }).publish(revocation);
    },
  };
  return {
    keys: new ApiKeyService({ prisma, logger, revocationBroadcaster }),
    close: async () => {
      await redis?.close();
      await prisma.$disconnect();
    },
  };
}

/**
 * Registers `keys create --name <n> (--admin | --guild <id...>)`, `keys list` and `keys revoke <id>` on a
 * commander program. The secret is printed once, by `create`; `list` shows only the display prefix.
 */
export function registerApiKeysCommand(program: Command, deps: ApiKeysCommandDependencies): Command {
  const write = deps.write ?? ((text: string) => void process.stdout.write(text));
  const keys = program.command("keys").description("create, list and revoke API keys");

  const run = (command: Command, work: (opened: OpenedApiKeys) => Promise<void>) =>
    runWithOpened(command, deps.open, work);

  keys
    .command("create")
    .description("create a key; it is printed once and cannot be shown again")
    .requiredOption("--name <name>", "what the key is for (1-100 characters)")
    .addOption(new Option("--admin", "full access to every guild and admin routes").conflicts("guild"))
    .option("--guild <id...>", "guild ids the key may read (repeatable)")
    .option("--json", "print JSON")
    .action(async (options: { name: string; admin?: boolean; guild?: string[]; json?: boolean }, command: Command) => {
      if (!options.admin && !options.guild?.length)
        usageError(command, "required option '--admin' or '--guild <id...>' not specified");
      await run(command, async ({ keys: service }) => {
        const { record, secret } = await service.createKey({
          name: options.name,
          admin: options.admin,
          guildIds: options.guild,
        });
        if (options.json) {
          write(
            `${JSON.stringify({ id: record.id, name: record.name, scope: record.scope, guildIds: record.guildIds, keyPrefix: record.keyPrefix, key: secret })}\n`,
          );
          return;
        }
        write(
          `Created API key ${record.id} "${record.name}" (${describeScope(record)})\n` +
            `Key: ${secret}\n` +
            "Store it now: it is shown only once. Send it as 'Authorization: Bearer <key>'.\n",
        );
      });
    });

  keys
    .command("list")
    .description("list keys (never their secrets)")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      await run(command, async ({ keys: service }) => {
        const list = await service.listKeys();
        if (options.json) {
          write(`${JSON.stringify(list)}\n`);
          return;
        }
        if (!list.length) {
          write("No API keys.\n");
          return;
        }
        write(`${["id", "prefix", "name", "scope", "created", "last used", "revoked"].join("\t")}\n`);
        for (const key of list) {
          const cells = [key.id, `${key.keyPrefix}…`, key.name, describeScope(key), key.createdAt.toISOString()];
          cells.push(key.lastUsedAt?.toISOString() ?? "never", key.revokedAt?.toISOString() ?? "-");
          write(`${cells.join("\t")}\n`);
        }
      });
    });

  keys
    .command("revoke <id>")
    .description("revoke a key by id; running API instances listening on Redis are told at once (others within 10 s)")
    .action(async (id: string, _options: unknown, command: Command) => {
      await run(command, async ({ keys: service }) => {
        const key = await service.revokeKey(id);
        write(
          `Revoked API key ${key.id} "${key.name}" at ${key.revokedAt?.toISOString()}\n${describeBroadcast(key)}\n`,
        );
      });
    });
  return keys;
}

function describeBroadcast(key: RevokedApiKey): string {
  const bound = `within ${DEFAULT_LOOKUP_CACHE_TTL_MS / 1_000} s`;
  if (key.broadcast === "published") {
    // PUBLISH's reply is the number of subscribers that got it: 0 means no instance heard it (none running, or
    // none connected to this Redis or prefix), so "at once" would be a promise nobody kept.
    if (key.receivers === 0) {
      return `Published on Redis, but no running API instance was listening: any that runs rejects it ${bound}.`;
    }
    if (key.receivers === undefined) {
      return `Published on Redis pub/sub (a cluster does not report receivers): instances that got it reject it at once, others ${bound}.`;
    }
    return `Running API instances were told through Redis pub/sub (${key.receivers} listening) and reject it at once.`;
  }
  // The revocation is durable in PostgreSQL either way: an unreachable Redis only delays other instances.
  if (key.broadcast === "failed")
    return `Redis was unreachable, so running API instances were not told: they reject it ${bound}.`;
  return `Running API instances reject it ${bound}.`;
}

function describeScope(key: Pick<ApiKeySummary, "scope" | "guildIds">): string {
  return key.scope === "admin" ? "admin" : `guilds ${key.guildIds.join(",")}`;
}
