import { defineConfig } from "vitest/config";

// Tests use their own database and Redis logical database, never the development ones.
const testDatabaseUrl = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/spywatcher_test";
const testRedisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379/9";

export default defineConfig({
  test: {
    include: ["__tests__/**/*.test.ts"],
    globalSetup: ["__tests__/helpers/global-setup.ts"],
    reporters: ["default", "./__tests__/helpers/summary-reporter.ts"],
    env: {
      NODE_ENV: "test",
      LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
      DATABASE_URL: testDatabaseUrl,
      REDIS_URL: testRedisUrl,
    },
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
  },
});
