import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client.ts";

export type { PrismaClient } from "../generated/prisma/client.ts";

/** Options for the Prisma client: a connection URL plus pool bounds, so a slow database cannot hang a request. */
export interface PrismaClientOptions {
  url: string;
  /** Largest number of pooled connections (default 10). */
  poolMax?: number;
  /** Server-side statement timeout in ms (default 10,000). */
  statementTimeoutMs?: number;
  /** How long to wait for a connection in ms (default 5,000). */
  connectionTimeoutMs?: number;
}

/** Builds a Prisma 7 client on the Rust-free `@prisma/adapter-pg` driver adapter. Call `$disconnect()` to close it. */
export function createPrismaClient(options: PrismaClientOptions): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: options.url,
    max: options.poolMax ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    statement_timeout: options.statementTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
  });
  return new PrismaClient({ adapter });
}
