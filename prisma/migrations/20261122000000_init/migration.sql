-- CreateTable
CREATE TABLE "message_events" (
    "id" BIGSERIAL NOT NULL,
    "message_id" TEXT NOT NULL,
    "guild_id" TEXT NOT NULL,
    "channel_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "content_length" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "message_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "message_delete_events" (
    "id" BIGSERIAL NOT NULL,
    "message_id" TEXT NOT NULL,
    "guild_id" TEXT NOT NULL,
    "channel_id" TEXT NOT NULL,
    "user_id" TEXT,
    "deleted_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "message_delete_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "typing_events" (
    "id" BIGSERIAL NOT NULL,
    "guild_id" TEXT NOT NULL,
    "channel_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "typing_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "presence_events" (
    "id" BIGSERIAL NOT NULL,
    "guild_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "platforms" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "presence_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "role_change_events" (
    "id" BIGSERIAL NOT NULL,
    "guild_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "role_id" TEXT NOT NULL,
    "role_name" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "role_change_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "member_join_events" (
    "id" BIGSERIAL NOT NULL,
    "guild_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "account_created_at" TIMESTAMPTZ(3) NOT NULL,
    "account_age_days" INTEGER NOT NULL,
    "joined_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "member_join_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "key_prefix" TEXT NOT NULL,
    "key_hash" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "guild_ids" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "message_events_message_id_key" ON "message_events"("message_id");

-- CreateIndex
CREATE INDEX "message_events_guild_id_created_at_idx" ON "message_events"("guild_id", "created_at");

-- CreateIndex
CREATE INDEX "message_events_guild_id_user_id_created_at_idx" ON "message_events"("guild_id", "user_id", "created_at");

-- CreateIndex
CREATE INDEX "message_delete_events_guild_id_deleted_at_idx" ON "message_delete_events"("guild_id", "deleted_at");

-- CreateIndex
CREATE INDEX "typing_events_guild_id_started_at_idx" ON "typing_events"("guild_id", "started_at");

-- CreateIndex
CREATE INDEX "typing_events_guild_id_user_id_started_at_idx" ON "typing_events"("guild_id", "user_id", "started_at");

-- CreateIndex
CREATE INDEX "presence_events_guild_id_created_at_idx" ON "presence_events"("guild_id", "created_at");

-- CreateIndex
CREATE INDEX "presence_events_guild_id_user_id_created_at_idx" ON "presence_events"("guild_id", "user_id", "created_at");

-- CreateIndex
CREATE INDEX "role_change_events_guild_id_created_at_idx" ON "role_change_events"("guild_id", "created_at");

-- CreateIndex
CREATE INDEX "member_join_events_guild_id_joined_at_idx" ON "member_join_events"("guild_id", "joined_at");

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_key_hash_key" ON "api_keys"("key_hash");
