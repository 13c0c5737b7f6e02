import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import type { Logger } from "../logging/logger.ts";

/** The default location of the SQL migrations, in Prisma's own layout. */
export const DEFAULT_MIGRATIONS_DIR = path.resolve(import.meta.dirname, "../../../prisma/migrations");

/** Raised when a migration's SQL fails; nothing of that migration stays applied. */
export class MigrationError extends Error {
  constructor(
    readonly migrationName: string,
    cause: unknown,
  ) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`Migration ${migrationName} failed and was rolled back: ${detail}`, { cause });
    this.name = "MigrationError";
  }
}

/** What a migration run did. */
export interface MigrationResult {
  databaseCreated: boolean;
  applied: string[];
  alreadyApplied: string[];
}

interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

// Arbitrary constant key for pg_advisory_lock: two processes starting at once must not both migrate.
const MIGRATION_LOCK_KEY = 727_011_342;

/**
 * Applies `prisma/migrations/<name>/migration.sql` files that are not yet recorded, each in its own transaction,
 * and records them in `_prisma_migrations` exactly as `prisma migrate deploy` does (SHA-256 checksum of the file,
 * finished_at, applied_steps_count 1), so Prisma's CLI agrees with this runner on a machine that has its engine.
 * Creates the database first when it does not exist. Running it again is a no-op.
 */
export async function runMigrations(options: {
  databaseUrl: string;
  migrationsDir?: string;
  logger?: Logger;
}): Promise<MigrationResult> {
  const databaseCreated = await ensureDatabaseExists(options.databaseUrl, options.logger);
  const migrations = await readMigrations(options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  const client = new pg.Client({ connectionString: options.databaseUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`);
    const recorded = await client.query<{ migration_name: string; checksum: string }>(
      `SELECT migration_name, checksum FROM "_prisma_migrations"
        WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
    const done = new Map(recorded.rows.map((row) => [row.migration_name, row.checksum]));
    const result: MigrationResult = { databaseCreated, applied: [], alreadyApplied: [] };
    for (const migration of migrations) {
      const recordedChecksum = done.get(migration.name);
      if (recordedChecksum !== undefined) {
        if (recordedChecksum !== migration.checksum) {
          // Prisma warns rather than fails here; an edited, already-applied migration is a mistake to surface.
          options.logger?.warn({ migration: migration.name }, "applied migration was modified since it was applied");
        }
        result.alreadyApplied.push(migration.name);
        continue;
      }
      await applyMigration(client, migration);
      options.logger?.info({ migration: migration.name }, "migration applied");
      result.applied.push(migration.name);
    }
    return result;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}

async function applyMigration(client: pg.Client, migration: MigrationFile): Promise<void> {
  const startedAt = new Date();
  try {
    await client.query("BEGIN");
    await client.query(migration.sql);
    await client.query(
      `INSERT INTO "_prisma_migrations"
         (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
       VALUES ($1, $2, now(), $3, NULL, NULL, $4, 1)`,
      [randomUUID(), migration.checksum, migration.name, startedAt],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw new MigrationError(migration.name, error);
  }
}

async function readMigrations(directory: string): Promise<MigrationFile[]> {
  const entries = await readdir(directory, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(path.join(directory, name, "migration.sql"));
      return { name, sql: bytes.toString("utf8"), checksum: createHash("sha256").update(bytes).digest("hex") };
    }),
  );
}

/** Creates the database named in `databaseUrl` if it is missing; returns whether it created it. */
export async function ensureDatabaseExists(databaseUrl: string, logger?: Logger): Promise<boolean> {
  const target = new URL(databaseUrl);
  const databaseName = decodeURIComponent(target.pathname.slice(1));
  const maintenance = new URL(databaseUrl);
  maintenance.pathname = "/postgres";
  const client = new pg.Client({ connectionString: maintenance.toString(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [databaseName]);
    if (exists.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(databaseName)}`);
    } catch (error) {
      // 42P04 duplicate_database: another process created it between our check and our CREATE.
      if ((error as { code?: string }).code === "42P04") return false;
      throw error;
    }
    logger?.info({ database: databaseName }, "database created");
    return true;
  } finally {
    await client.end();
  }
}
