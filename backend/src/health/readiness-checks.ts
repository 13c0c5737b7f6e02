import type { PrismaClient } from "../db/prisma-client.ts";
import { withTimeout } from "../lib/with-timeout.ts";
import type { RedisClient } from "../redis/redis-connections.ts";

/** One dependency the service needs to be ready; `check` throws (or times out) when it is not. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

/** The outcome of one readiness check, as shown by GET /health/ready. */
export interface CheckOutcome {
  name: string;
  status: "up" | "down";
  latencyMs: number;
  error?: string;
}

/** Redis answers PING. */
export function redisReadinessCheck(client: RedisClient): ReadinessCheck {
  return {
    name: "redis",
    async check() {
      // Without an offline queue a PING on a closed connection fails with ioredis's internal wording; say it plainly.
      if (client.status !== "ready") throw new Error(`not connected (connection status: ${client.status})`);
      const reply = await client.ping();
      if (reply !== "PONG") throw new Error(`unexpected PING reply ${String(reply)}`);
    },
  };
}

/** PostgreSQL answers SELECT 1 through Prisma. */
export function postgresReadinessCheck(prisma: PrismaClient): ReadinessCheck {
  return {
    name: "postgres",
    async check() {
      await prisma.$queryRaw`SELECT 1`;
    },
  };
}

/** Runs every check in parallel, each bounded by `timeoutMs`; never throws. */
export async function runReadinessChecks(checks: ReadinessCheck[], timeoutMs: number): Promise<CheckOutcome[]> {
  return Promise.all(
    checks.map(async ({ name, check }): Promise<CheckOutcome> => {
      const started = performance.now();
      try {
        await withTimeout(check(), timeoutMs, name);
        return { name, status: "up", latencyMs: elapsed(started) };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return { name, status: "down", latencyMs: elapsed(started), error: message };
      }
    }),
  );
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
