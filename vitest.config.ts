import { defineConfig } from "vitest/config";

// Tests use their own database and Redis logical database, never the development ones.
const testDatabaseUrl = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/spywatcher_test";
const testRedisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379/9";

/**
 * Two projects in one run (one summary line): the unit/integration suite with files in parallel, then
 * (sequence.groupOrder 1) the end-to-end fault tests in `__tests__/faults/`, one file at a time: each starts the real
 * service process under load and injects faults, and must not compete with the parallel suite for the 2 cores.
 */
export default defineConfig({
  test: {
    globalSetup: ["__tests__/support/global-setup.ts"],
    reporters: ["default", "./__tests__/support/summary-reporter.ts"],
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
    projects: [
      {
        extends: true,
        test: {
          name: "suite",
          include: ["__tests__/**/*.test.ts"],
          exclude: ["__tests__/faults/**", "**/node_modules/**"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "faults",
          include: ["__tests__/faults/**/*.test.ts"],
          fileParallelism: false,
          maxWorkers: 1,
          testTimeout: 120_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
