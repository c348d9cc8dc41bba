-- CreateEnum
CREATE TYPE "BackgroundJobStatus" AS ENUM ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "AssetStatus" AS ENUM ('PROCESSING', 'READY', 'FAILED');

-- AlterTable
ALTER TABLE "posts" ADD COLUMN     "generation_key" VARCHAR(100);

-- CreateTable
CREATE TABLE "background_jobs" (
    "id" SERIAL NOT NULL,
    "kind" VARCHAR(50) NOT NULL,
    "status" "BackgroundJobStatus" NOT NULL DEFAULT 'QUEUED',
    "progress" INTEGER NOT NULL DEFAULT 0,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "max_attempts" INTEGER NOT NULL,
    "last_error" VARCHAR(2000),
    "payload" JSONB NOT NULL DEFAULT '{}',
    "result" JSONB,
    "started_by_id" INTEGER,
    "client_id" INTEGER,
    "worker_job_id" BIGINT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "background_jobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job_workers" (
    "id" VARCHAR(100) NOT NULL,
    "hostname" VARCHAR(255) NOT NULL,
    "pid" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_workers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "assets" (
    "id" SERIAL NOT NULL,
    "post_id" INTEGER,
    "deliverable_id" INTEGER,
    "client_id" INTEGER NOT NULL,
    "filename" VARCHAR(255) NOT NULL,
    "storage_key" VARCHAR(100) NOT NULL,
    "content_type" VARCHAR(100) NOT NULL,
    "size_bytes" INTEGER,
    "sha256" CHAR(64),
    "width" INTEGER,
    "height" INTEGER,
    "status" "AssetStatus" NOT NULL DEFAULT 'PROCESSING',
    "uploaded_by_id" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "assets_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "email_outbox" (
    "id" SERIAL NOT NULL,
    "key" VARCHAR(200) NOT NULL,
    "job_id" INTEGER,
    "recipient" VARCHAR(254) NOT NULL,
    "subject" VARCHAR(300) NOT NULL,
    "body" TEXT NOT NULL,
    "message_id" VARCHAR(300),
    "sent_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "email_outbox_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "analytics_daily" (
    "day" DATE NOT NULL,
    "project_id" INTEGER NOT NULL,
    "client_id" INTEGER NOT NULL,
    "posts_total" INTEGER NOT NULL,
    "posts_created" INTEGER NOT NULL,
    "posts_published" INTEGER NOT NULL,
    "posts_by_status" JSONB NOT NULL,
    "posts_by_platform" JSONB NOT NULL,
    "computed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "analytics_daily_pkey" PRIMARY KEY ("day","project_id")
);

-- CreateIndex
CREATE INDEX "background_jobs_created_at_id_idx" ON "background_jobs"("created_at", "id");

-- CreateIndex
CREATE INDEX "background_jobs_status_created_at_id_idx" ON "background_jobs"("status", "created_at", "id");

-- CreateIndex
CREATE INDEX "background_jobs_kind_created_at_id_idx" ON "background_jobs"("kind", "created_at", "id");

-- CreateIndex
CREATE INDEX "background_jobs_started_by_id_created_at_id_idx" ON "background_jobs"("started_by_id", "created_at", "id");

-- CreateIndex
CREATE UNIQUE INDEX "assets_storage_key_key" ON "assets"("storage_key");

-- CreateIndex
CREATE INDEX "assets_post_id_idx" ON "assets"("post_id");

-- CreateIndex
CREATE INDEX "assets_deliverable_id_idx" ON "assets"("deliverable_id");

-- CreateIndex
CREATE UNIQUE INDEX "email_outbox_key_key" ON "email_outbox"("key");

-- CreateIndex
CREATE INDEX "email_outbox_job_id_idx" ON "email_outbox"("job_id");

-- CreateIndex
CREATE INDEX "analytics_daily_client_id_day_idx" ON "analytics_daily"("client_id", "day");

-- CreateIndex
CREATE UNIQUE INDEX "posts_generation_key_key" ON "posts"("generation_key");

-- AddForeignKey
ALTER TABLE "background_jobs" ADD CONSTRAINT "background_jobs_started_by_id_fkey" FOREIGN KEY ("started_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "assets" ADD CONSTRAINT "assets_post_id_fkey" FOREIGN KEY ("post_id") REFERENCES "posts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "assets" ADD CONSTRAINT "assets_deliverable_id_fkey" FOREIGN KEY ("deliverable_id") REFERENCES "deliverables"("id") ON DELETE CASCADE ON UPDATE CASCADE;
