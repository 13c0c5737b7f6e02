import { createHash } from "node:crypto";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MIGRATIONS_DIR, MigrationError, runMigrations } from "../../../backend/src/db/migrator.ts";
import { TEST_DATABASE_URL } from "../../support/test-env.ts";

// Each run of this file migrates a database of its own, created by the migrator itself.
const scratchName = `spywatcher_migrator_test_${process.pid}`;
const scratchUrl = Object.assign(new URL(TEST_DATABASE_URL), { pathname: `/${scratchName}` }).toString();

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function dropScratch(): Promise<void> {
  const maintenance = Object.assign(new URL(TEST_DATABASE_URL), { pathname: "/postgres" }).toString();
  await query(maintenance, `DROP DATABASE IF EXISTS "${scratchName}" WITH (FORCE)`);
}

describe("runMigrations", () => {
  let brokenDir: string;
  beforeAll(async () => {
    await dropScratch();
    brokenDir = await mkdtemp(path.join(tmpdir(), "sw-migrations-"));
  });
  afterAll(async () => {
    await dropScratch();
    await rm(brokenDir, { recursive: true, force: true });
  });

  it("creates the missing database, applies every migration and records it as Prisma does", async () => {
    const result = await runMigrations({ databaseUrl: scratchUrl });
    expect(result.databaseCreated).toBe(true);
    expect(result.applied).toContain("20261122000000_init");

    const rows = await query<{
      migration_name: string;
      checksum: string;
      applied_steps_count: number;
      finished_at: Date;
    }>(
      scratchUrl,
      `SELECT migration_name, checksum, applied_steps_count, finished_at FROM "_prisma_migrations" ORDER BY migration_name`,
    );
    const sql = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, "20261122000000_init", "migration.sql"));
    expect(rows[0]).toMatchObject({
      migration_name: "20261122000000_init",
      checksum: createHash("sha256").update(sql).digest("hex"),
      applied_steps_count: 1,
    });
    expect(rows[0]?.finished_at).toBeInstanceOf(Date);
    const tables = await query<{ tablename: string }>(
      scratchUrl,
      `SELECT tablename FROM pg_tables WHERE schemaname='public'`,
    );
    expect(tables.map((t) => t.tablename)).toEqual(
      expect.arrayContaining(["message_events", "typing_events", "presence_events", "api_keys"]),
    );
  });

  it("is a no-op the second time", async () => {
    const result = await runMigrations({ databaseUrl: scratchUrl });
    expect(result).toMatchObject({ databaseCreated: false, applied: [] });
    expect(result.alreadyApplied.length).toBeGreaterThan(0);
    const rows = await query(scratchUrl, `SELECT 1 FROM "_prisma_migrations"`);
    expect(rows.length).toBe(result.alreadyApplied.length);
  });

  it("rolls a failing migration back whole and names it", async () => {
    await mkdir(path.join(brokenDir, "20990101000000_broken"));
    await writeFile(
      path.join(brokenDir, "20990101000000_broken", "migration.sql"),
      `CREATE TABLE "half_applied" (id int);\nSELECT * FROM "no_such_table";`,
    );
    const failure = runMigrations({ databaseUrl: scratchUrl, migrationsDir: brokenDir });
    await expect(failure).rejects.toBeInstanceOf(MigrationError);
    await expect(failure).rejects.toThrow(/20990101000000_broken.*no_such_table/);
    const leftovers = await query(scratchUrl, `SELECT 1 FROM pg_tables WHERE tablename = 'half_applied'`);
    expect(leftovers).toEqual([]);
    const recorded = await query(
      scratchUrl,
      `SELECT 1 FROM "_prisma_migrations" WHERE migration_name = '20990101000000_broken'`,
    );
    expect(recorded).toEqual([]);
  });
});
