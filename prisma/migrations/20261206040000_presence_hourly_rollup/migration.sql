-- Presence per user per UTC hour, kept by the presence insert trigger like user_presence_daily, so lurkers read
-- whole hours from here and only the raw presence events of the partial hours at a window's two edges (issue 8:
-- the raw aggregation over 1.5 million presence events took about 1.7 s; a 24 h window has no whole day, so the
-- daily rollup did not help it). Like the daily one it only grows: deleting presence rows (data deletion) must also
-- delete the user's rows here. Idempotent (safe to run twice); see docs/analytics.md "Speed".

CREATE TABLE IF NOT EXISTS "user_presence_hourly" (
    "guild_id" TEXT NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "user_id" TEXT NOT NULL,
    "presence_count" INTEGER NOT NULL DEFAULT 0,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "user_presence_hourly_pkey" PRIMARY KEY ("guild_id", "hour", "user_id")
);

-- Rows are upserted in key order so concurrent batches lock rollup rows in the same order (no deadlocks).
CREATE OR REPLACE FUNCTION "analytics_rollup_presence_hourly"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "user_presence_hourly" AS r ("guild_id", "hour", "user_id", "presence_count", "last_seen_at")
  SELECT "guild_id", date_trunc('hour', "created_at", 'UTC'), "user_id", count(*)::int, max("created_at")
    FROM changed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT ("guild_id", "hour", "user_id") DO UPDATE SET
    "presence_count" = r."presence_count" + EXCLUDED."presence_count",
    "last_seen_at" = greatest(r."last_seen_at", EXCLUDED."last_seen_at");
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS "presence_events_rollup_hourly_insert" ON "presence_events";
CREATE TRIGGER "presence_events_rollup_hourly_insert" AFTER INSERT ON "presence_events"
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION "analytics_rollup_presence_hourly"();

-- Backfill from the presence events already stored, rebuilt from scratch so running this file twice never double counts.
TRUNCATE "user_presence_hourly";
INSERT INTO "user_presence_hourly" ("guild_id", "hour", "user_id", "presence_count", "last_seen_at")
SELECT "guild_id", date_trunc('hour', "created_at", 'UTC'), "user_id", count(*)::int, max("created_at")
  FROM "presence_events" GROUP BY 1, 2, 3;
