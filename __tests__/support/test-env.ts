import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig, type AppConfig } from "../../backend/src/config/config.ts";
import { createLogger, type Logger } from "../../backend/src/logging/logger.ts";

/** The test database URL (set by vitest.config.ts). */
export const TEST_DATABASE_URL = process.env.DATABASE_URL!;
/** The test Redis URL (set by vitest.config.ts): its own logical database. */
export const TEST_REDIS_URL = process.env.REDIS_URL!;

/**
 * Redis command timeout for tests that assert cache hits: the production default (250 ms) is about failing fast,
 * and with every test file running in parallel on 2 cores a write can occasionally take longer, which would turn
 * an expected HIT into a (correct, fail-open) MISS. Tests about outages keep the production timeout.
 */
export const TEST_COMMAND_TIMEOUT_MS = 1_500;

/** A key prefix no other test file uses, so files can run in parallel on one Redis. */
export function uniquePrefix(label: string): string {
  return `t-${label}-${randomBytes(4).toString("hex")}`;
}

/** A random Discord-like snowflake, so each test's guild is its own. */
export function randomSnowflake(): string {
  return (BigInt(Date.now() - 1_420_070_400_000) * 4_194_304n + BigInt(randomBytes(2).readUInt16BE())).toString();
}

/** Configuration for an in-process service on a free port against the test database and Redis. */
export function testConfig(overrides: NodeJS.ProcessEnv = {}): AppConfig {
  return loadConfig({
    NODE_ENV: "test",
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: uniquePrefix("svc"),
    MIGRATE_ON_START: "false",
    DISCORD_ENABLED: "false",
    REDIS_COMMAND_TIMEOUT_MS: String(TEST_COMMAND_TIMEOUT_MS),
    INGEST_SPILL_DIR: testSpillDir(),
    ...overrides,
  });
}

/** A spill directory of its own under the OS temp dir (never the repository's data/), for a service a test starts. */
export function testSpillDir(): string {
  return path.join(tmpdir(), uniquePrefix("spywatcher-spill"));
}

/** A logger that prints nothing unless LOG_LEVEL asks for it. */
export function testLogger(): Logger {
  return createLogger({ level: process.env.LOG_LEVEL ?? "silent" });
}
