-- Ingest batch markers: every batch the ingestion writer sends carries a UUID, and its insert statement first
-- records that id here (ON CONFLICT DO NOTHING) and inserts its rows only when the id was new. A batch that
-- committed but whose reply was lost is retried with the same id and inserts nothing, so no event table (and no
-- rollup kept by the statement-level triggers of 20261122020000) counts it twice. Markers older than the
-- retention (1 h by default, longer while the writer still holds an older batch) are pruned by the writer; see
-- docs/ingestion.md "Idempotent retries".
-- Idempotent (safe to run twice).

CREATE TABLE IF NOT EXISTS "ingest_batches" (
    "batch_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "ingest_batches_pkey" PRIMARY KEY ("batch_id")
);

-- Pruning deletes by age: an index keeps that a range scan instead of a scan of every marker.
CREATE INDEX IF NOT EXISTS "ingest_batches_created_at_idx" ON "ingest_batches" ("created_at");
