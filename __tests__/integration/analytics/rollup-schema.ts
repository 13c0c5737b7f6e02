import { readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";

/** The rollup DDL proposed as a migration (backend/src/analytics/analytics-rollups.sql). */
export const ROLLUP_SQL_PATH = path.resolve(import.meta.dirname, "../../../backend/src/analytics/analytics-rollups.sql");

// Any constant: test files applying the rollups at once must take turns.
const LOCK_KEY = 727_011_401;

/**
 * Makes sure the rollup tables and triggers exist in the test database: applies analytics-rollups.sql unless
 * its tables are already there (from a migration or another test file). One transaction, so concurrent inserts
 * either land before the backfill or after the triggers.
 */
export async function ensureRollups(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
    const { rows } = await client.query<{ present: boolean }>(
      "SELECT to_regclass('user_presence_daily') IS NOT NULL AS present",
    );
    if (rows[0]?.present) return;
    const sql = await readFile(ROLLUP_SQL_PATH, "utf8");
    await client.query("BEGIN");
    try {
      await client.query(sql);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK");
      throw error;
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}
