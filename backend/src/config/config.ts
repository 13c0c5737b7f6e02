import { z } from "zod";

/** Parses "true"/"false"/"1"/"0" environment strings into booleans. */
const booleanFromEnv = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((value) => value === "true" || value === "1" || value === "yes");

const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().nonnegative();

const postgresUrl = z
  .string()
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "postgresql:" || url.protocol === "postgres:") && url.pathname.length > 1;
    } catch {
      return false;
    }
  }, "must be a postgresql://user@host:port/database URL");

const redisUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === "redis:" || url.protocol === "rediss:";
  } catch {
    return false;
  }
}, "must be a redis://host:port/db URL");

const clusterNodes = z
  .string()
  .transform((value) => value.split(",").map((node) => node.trim()).filter(Boolean))
  .pipe(
    z
      .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, "each node must be host:port"))
      .min(1, "must list at least one host:port"),
  );

/**
 * The environment this service reads, with its defaults. Every variable is documented in `.env.example`
 * and in the README's configuration table; keep the three in step.
 */
export const environmentSchema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  HOST: z.string().min(1).default("0.0.0.0"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3001),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  LOG_PRETTY: booleanFromEnv.default(false),

  DATABASE_URL: postgresUrl.default("postgresql://postgres@127.0.0.1:5432/spywatcher"),
  DATABASE_POOL_MAX: positiveInt.default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.default(10_000),
  MIGRATE_ON_START: booleanFromEnv.default(true),

  REDIS_URL: redisUrl.default("redis://127.0.0.1:6379/0"),
  REDIS_CLUSTER_NODES: clusterNodes.optional(),
  REDIS_PROTOCOL: z.coerce.number().pipe(z.union([z.literal(2), z.literal(3)])).default(2),
  REDIS_CONNECT_TIMEOUT_MS: positiveInt.default(2_000),
  REDIS_COMMAND_TIMEOUT_MS: positiveInt.default(250),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, "must be 1-32 letters, digits, '_' or '-'")
    .default("spywatcher"),

  HEALTH_CHECK_TIMEOUT_MS: positiveInt.default(1_000),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  ADMIN_API_KEY: z.string().min(24, "must be at least 24 characters").optional(),
  TRUST_PROXY: booleanFromEnv.default(false),
  RATE_LIMIT_PER_MINUTE: nonNegativeInt.default(600),
});

export type Environment = z.infer<typeof environmentSchema>;

/** The typed configuration handed to every part of the service. */
export interface AppConfig {
  env: Environment["NODE_ENV"];
  http: { host: string; port: number; trustProxy: boolean; rateLimitPerMinute: number };
  log: { level: Environment["LOG_LEVEL"]; pretty: boolean };
  database: { url: string; poolMax: number; statementTimeoutMs: number; migrateOnStart: boolean };
  redis: {
    url: string;
    clusterNodes: string[] | undefined;
    protocol: 2 | 3;
    connectTimeoutMs: number;
    commandTimeoutMs: number;
    keyPrefix: string;
  };
  health: { checkTimeoutMs: number };
  shutdownTimeoutMs: number;
  adminApiKey: string | undefined;
}

/** Raised when the environment does not validate; its message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super(
      `Invalid environment:\n${issues.map((issue) => `  - ${issue.variable}: ${issue.message}`).join("\n")}`,
    );
    this.name = "ConfigError";
  }
}

/** Validates an environment (default `process.env`) and returns the typed configuration, or throws ConfigError. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): AppConfig {
  // Empty strings mean "unset" so that `FOO=` in a .env file falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ""));
  const parsed = environmentSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? "(environment)"),
        message: issue.message,
      })),
    );
  }
  const e = parsed.data;
  return {
    env: e.NODE_ENV,
    http: { host: e.HOST, port: e.PORT, trustProxy: e.TRUST_PROXY, rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE },
    log: { level: e.LOG_LEVEL, pretty: e.LOG_PRETTY },
    database: {
      url: e.DATABASE_URL,
      poolMax: e.DATABASE_POOL_MAX,
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      migrateOnStart: e.MIGRATE_ON_START,
    },
    redis: {
      url: e.REDIS_URL,
      clusterNodes: e.REDIS_CLUSTER_NODES,
      protocol: e.REDIS_PROTOCOL,
      connectTimeoutMs: e.REDIS_CONNECT_TIMEOUT_MS,
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
      keyPrefix: e.REDIS_KEY_PREFIX,
    },
    health: { checkTimeoutMs: e.HEALTH_CHECK_TIMEOUT_MS },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    adminApiKey: e.ADMIN_API_KEY,
  };
}
