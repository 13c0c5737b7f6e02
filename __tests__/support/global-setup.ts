import pg from "pg";
import { runMigrations } from "../../backend/src/db/migrator.ts";

/**
 * Once per test run: recreate the isolated test database from empty and apply every migration to it,
 * so each run also proves the migrations apply to a new database.
 */
export default async function setup(): Promise<void> {
  // Both vitest projects (suite, faults) list this setup; the database is recreated once per run, before either.
  if (process.env.SPYWATCHER_TEST_DATABASE_READY === "1") return;
  process.env.SPYWATCHER_TEST_DATABASE_READY = "1";
  const databaseUrl = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/spywatcher_test";
  const target = new URL(databaseUrl);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/test/.test(name)) throw new Error(`refusing to recreate database "${name}": its name must contain "test"`);
  const maintenance = new URL(databaseUrl);
  maintenance.pathname = "/postgres";
  const client = new pg.Client({ connectionString: maintenance.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
  await runMigrations({ databaseUrl });
}
