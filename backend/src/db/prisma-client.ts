import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client.ts";

/** Defaults of `PrismaClientOptions`; the DATABASE_* defaults of config/config.ts are these. */
export const PRISMA_CLIENT_DEFAULTS = {
  poolMax: 10,
  statementTimeoutMs: 10_000,
  connectionTimeoutMs: 5_000,
  keepAliveDelayMs: 10_000,
} as const;

export type { PrismaClient } from "../generated/prisma/client.ts";

/** Options for the Prisma client: a connection URL plus pool bounds, so a slow database cannot hang a request. */
export interface PrismaClientOptions {
  url: string;
  /** Largest number of pooled connections (default 10). */
  poolMax?: number;
  /** Server-side statement timeout in ms (default 10,000). */
  statementTimeoutMs?: number;
  /** How long to wait for a connection in ms, pooled or new (default 5,000). */
  connectionTimeoutMs?: number;
  /**
   * Client-side query timeout in ms (default: statement timeout + 1 s): a query without an answer (PostgreSQL hung,
   * packets dropped) fails with "Query read timeout", and the pool discards its connection instead of reusing it.
   */
  queryTimeoutMs?: number;
  /** TCP keepalive on every connection, first probe after this idle time in ms (default 10,000). */
  keepAliveDelayMs?: number;
}

/** Builds a Prisma 7 client on the Rust-free `@prisma/adapter-pg` driver adapter. Call `$disconnect()` to close it. */
export function createPrismaClient(options: PrismaClientOptions): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: options.url,
    max: options.poolMax ?? PRISMA_CLIENT_DEFAULTS.poolMax,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? PRISMA_CLIENT_DEFAULTS.connectionTimeoutMs,
    statement_timeout: options.statementTimeoutMs ?? PRISMA_CLIENT_DEFAULTS.statementTimeoutMs,
    query_timeout:
      options.queryTimeoutMs ?? (options.statementTimeoutMs ?? PRISMA_CLIENT_DEFAULTS.statementTimeoutMs) + 1_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: options.keepAliveDelayMs ?? PRISMA_CLIENT_DEFAULTS.keepAliveDelayMs,
    idleTimeoutMillis: 30_000,
  });
  return new PrismaClient({ adapter });
}
