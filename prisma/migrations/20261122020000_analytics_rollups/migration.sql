-- Analytics rollups: per-day and per-hour counts kept in step with the event tables by statement-level triggers,
-- so the analytics read a few thousand rollup rows plus the raw events of the partial days/hours at the edges of
-- a window, instead of every event in it. Idempotent (safe to run twice); see docs/analytics.md "Speed".

CREATE TABLE IF NOT EXISTS "user_activity_daily" (
    "guild_id" TEXT NOT NULL,
    "day" DATE NOT NULL,
    "user_id" TEXT NOT NULL,
    "messages" INTEGER NOT NULL DEFAULT 0,
    "typing" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "user_activity_daily_pkey" PRIMARY KEY ("guild_id", "day", "user_id")
);

CREATE TABLE IF NOT EXISTS "channel_activity_hourly" (
    "guild_id" TEXT NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "channel_id" TEXT NOT NULL,
    "messages" INTEGER NOT NULL DEFAULT 0,
    "typing" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "channel_activity_hourly_pkey" PRIMARY KEY ("guild_id", "hour", "channel_id")
);

-- platform_mask: bit 1 desktop, 2 mobile, 4 web (OR of every presence of that day).
CREATE TABLE IF NOT EXISTS "user_presence_daily" (
    "guild_id" TEXT NOT NULL,
    "day" DATE NOT NULL,
    "user_id" TEXT NOT NULL,
    "presence_count" INTEGER NOT NULL DEFAULT 0,
    "platform_mask" INTEGER NOT NULL DEFAULT 0,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "user_presence_daily_pkey" PRIMARY KEY ("guild_id", "day", "user_id")
);

CREATE OR REPLACE FUNCTION "analytics_platform_mask"(platforms TEXT[]) RETURNS INTEGER
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (CASE WHEN 'desktop' = ANY(platforms) THEN 1 ELSE 0 END)
       | (CASE WHEN 'mobile' = ANY(platforms) THEN 2 ELSE 0 END)
       | (CASE WHEN 'web' = ANY(platforms) THEN 4 ELSE 0 END)
$$;

-- Rows are upserted in key order so concurrent batches lock rollup rows in the same order (no deadlocks).
CREATE OR REPLACE FUNCTION "analytics_rollup_messages"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE sign INTEGER := CASE WHEN TG_OP = 'DELETE' THEN -1 ELSE 1 END;
BEGIN
  INSERT INTO "user_activity_daily" AS r ("guild_id", "day", "user_id", "messages")
  SELECT "guild_id", ("created_at" AT TIME ZONE 'UTC')::date, "user_id", sign * count(*)::int
    FROM changed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT ("guild_id", "day", "user_id") DO UPDATE SET "messages" = r."messages" + EXCLUDED."messages";
  INSERT INTO "channel_activity_hourly" AS r ("guild_id", "hour", "channel_id", "messages")
  SELECT "guild_id", date_trunc('hour', "created_at", 'UTC'), "channel_id", sign * count(*)::int
    FROM changed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT ("guild_id", "hour", "channel_id") DO UPDATE SET "messages" = r."messages" + EXCLUDED."messages";
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION "analytics_rollup_typing"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE sign INTEGER := CASE WHEN TG_OP = 'DELETE' THEN -1 ELSE 1 END;
BEGIN
  INSERT INTO "user_activity_daily" AS r ("guild_id", "day", "user_id", "typing")
  SELECT "guild_id", ("started_at" AT TIME ZONE 'UTC')::date, "user_id", sign * count(*)::int
    FROM changed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT ("guild_id", "day", "user_id") DO UPDATE SET "typing" = r."typing" + EXCLUDED."typing";
  INSERT INTO "channel_activity_hourly" AS r ("guild_id", "hour", "channel_id", "typing")
  SELECT "guild_id", date_trunc('hour', "started_at", 'UTC'), "channel_id", sign * count(*)::int
    FROM changed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT ("guild_id", "hour", "channel_id") DO UPDATE SET "typing" = r."typing" + EXCLUDED."typing";
  RETURN NULL;
END $$;

-- Presence rollups only grow: deleting presence rows (data deletion) must also delete the user's rollup rows.
CREATE OR REPLACE FUNCTION "analytics_rollup_presence"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "user_presence_daily" AS r ("guild_id", "day", "user_id", "presence_count", "platform_mask", "last_seen_at")
  SELECT "guild_id", ("created_at" AT TIME ZONE 'UTC')::date, "user_id", count(*)::int,
         bit_or("analytics_platform_mask"("platforms")), max("created_at")
    FROM changed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT ("guild_id", "day", "user_id") DO UPDATE SET
    "presence_count" = r."presence_count" + EXCLUDED."presence_count",
    "platform_mask" = r."platform_mask" | EXCLUDED."platform_mask",
    "last_seen_at" = greatest(r."last_seen_at", EXCLUDED."last_seen_at");
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS "message_events_rollup_insert" ON "message_events";
CREATE TRIGGER "message_events_rollup_insert" AFTER INSERT ON "message_events"
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION "analytics_rollup_messages"();
DROP TRIGGER IF EXISTS "message_events_rollup_delete" ON "message_events";
CREATE TRIGGER "message_events_rollup_delete" AFTER DELETE ON "message_events"
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION "analytics_rollup_messages"();
DROP TRIGGER IF EXISTS "typing_events_rollup_insert" ON "typing_events";
CREATE TRIGGER "typing_events_rollup_insert" AFTER INSERT ON "typing_events"
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION "analytics_rollup_typing"();
DROP TRIGGER IF EXISTS "typing_events_rollup_delete" ON "typing_events";
CREATE TRIGGER "typing_events_rollup_delete" AFTER DELETE ON "typing_events"
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION "analytics_rollup_typing"();
DROP TRIGGER IF EXISTS "presence_events_rollup_insert" ON "presence_events";
CREATE TRIGGER "presence_events_rollup_insert" AFTER INSERT ON "presence_events"
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION "analytics_rollup_presence"();

-- Backfill from the events already stored (a no-op on an empty database); rebuilt from scratch so running
-- this file twice never double counts.
TRUNCATE "user_activity_daily", "channel_activity_hourly", "user_presence_daily";
INSERT INTO "user_activity_daily" ("guild_id", "day", "user_id", "messages", "typing")
SELECT "guild_id", "day", "user_id", sum("m")::int, sum("t")::int FROM (
  SELECT "guild_id", ("created_at" AT TIME ZONE 'UTC')::date AS "day", "user_id", 1 AS "m", 0 AS "t" FROM "message_events"
  UNION ALL
  SELECT "guild_id", ("started_at" AT TIME ZONE 'UTC')::date, "user_id", 0, 1 FROM "typing_events"
) AS "events" GROUP BY 1, 2, 3;
INSERT INTO "channel_activity_hourly" ("guild_id", "hour", "channel_id", "messages", "typing")
SELECT "guild_id", "hour", "channel_id", sum("m")::int, sum("t")::int FROM (
  SELECT "guild_id", date_trunc('hour', "created_at", 'UTC') AS "hour", "channel_id", 1 AS "m", 0 AS "t" FROM "message_events"
  UNION ALL
  SELECT "guild_id", date_trunc('hour', "started_at", 'UTC'), "channel_id", 0, 1 FROM "typing_events"
) AS "events" GROUP BY 1, 2, 3;
INSERT INTO "user_presence_daily" ("guild_id", "day", "user_id", "presence_count", "platform_mask", "last_seen_at")
SELECT "guild_id", ("created_at" AT TIME ZONE 'UTC')::date, "user_id", count(*)::int,
       bit_or("analytics_platform_mask"("platforms")), max("created_at")
  FROM "presence_events" GROUP BY 1, 2, 3;
