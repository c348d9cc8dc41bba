-- CreateEnum
CREATE TYPE "Role" AS ENUM ('ADMIN', 'MANAGER', 'EDITOR', 'CLIENT');

-- CreateEnum
CREATE TYPE "ClientStatus" AS ENUM ('ACTIVE', 'ARCHIVED');

-- CreateEnum
CREATE TYPE "ProjectStatus" AS ENUM ('PLANNING', 'ACTIVE', 'ON_HOLD', 'COMPLETED', 'ARCHIVED');

-- CreateEnum
CREATE TYPE "Platform" AS ENUM ('INSTAGRAM', 'FACEBOOK', 'LINKEDIN', 'X', 'TIKTOK', 'BLOG');

-- CreateEnum
CREATE TYPE "PostStatus" AS ENUM ('DRAFT', 'IN_REVIEW', 'APPROVED', 'SCHEDULED', 'PUBLISHED', 'ARCHIVED');

-- CreateEnum
CREATE TYPE "DeliverableStatus" AS ENUM ('TODO', 'IN_PROGRESS', 'IN_REVIEW', 'APPROVED', 'DELIVERED');

-- CreateTable
CREATE TABLE "users" (
    "id" SERIAL NOT NULL,
    "email" VARCHAR(254) NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "password_hash" TEXT NOT NULL,
    "role" "Role" NOT NULL,
    "client_id" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "clients" (
    "id" SERIAL NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "slug" VARCHAR(100) NOT NULL,
    "industry" VARCHAR(100) NOT NULL,
    "status" "ClientStatus" NOT NULL DEFAULT 'ACTIVE',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "clients_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "projects" (
    "id" SERIAL NOT NULL,
    "client_id" INTEGER NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "description" VARCHAR(5000) NOT NULL DEFAULT '',
    "status" "ProjectStatus" NOT NULL DEFAULT 'PLANNING',
    "start_date" DATE,
    "due_date" DATE,
    "budget_cents" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "projects_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "posts" (
    "id" SERIAL NOT NULL,
    "project_id" INTEGER NOT NULL,
    "client_id" INTEGER NOT NULL,
    "author_id" INTEGER NOT NULL,
    "title" VARCHAR(300) NOT NULL,
    "body" VARCHAR(20000) NOT NULL,
    "platform" "Platform" NOT NULL,
    "status" "PostStatus" NOT NULL DEFAULT 'DRAFT',
    "scheduled_at" TIMESTAMPTZ(3),
    "published_at" TIMESTAMPTZ(3),
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "posts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "deliverables" (
    "id" SERIAL NOT NULL,
    "project_id" INTEGER NOT NULL,
    "client_id" INTEGER NOT NULL,
    "title" VARCHAR(300) NOT NULL,
    "kind" VARCHAR(100) NOT NULL,
    "status" "DeliverableStatus" NOT NULL DEFAULT 'TODO',
    "due_date" DATE,
    "assignee_id" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "deliverables_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "users_email_key" ON "users"("email");

-- CreateIndex
CREATE INDEX "users_client_id_idx" ON "users"("client_id");

-- CreateIndex
CREATE UNIQUE INDEX "clients_slug_key" ON "clients"("slug");

-- CreateIndex
CREATE INDEX "clients_name_id_idx" ON "clients"("name", "id");

-- CreateIndex
CREATE INDEX "clients_status_name_id_idx" ON "clients"("status", "name", "id");

-- CreateIndex
CREATE INDEX "projects_client_id_created_at_id_idx" ON "projects"("client_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "projects_client_id_name_id_idx" ON "projects"("client_id", "name", "id");

-- CreateIndex
CREATE INDEX "projects_client_id_due_date_id_idx" ON "projects"("client_id", "due_date", "id");

-- CreateIndex
CREATE INDEX "projects_created_at_id_idx" ON "projects"("created_at", "id");

-- CreateIndex
CREATE INDEX "projects_name_id_idx" ON "projects"("name", "id");

-- CreateIndex
CREATE INDEX "projects_due_date_id_idx" ON "projects"("due_date", "id");

-- CreateIndex
CREATE INDEX "projects_status_created_at_id_idx" ON "projects"("status", "created_at", "id");

-- CreateIndex
CREATE INDEX "posts_created_at_id_idx" ON "posts"("created_at", "id");

-- CreateIndex
CREATE INDEX "posts_updated_at_id_idx" ON "posts"("updated_at", "id");

-- CreateIndex
CREATE INDEX "posts_scheduled_at_id_idx" ON "posts"("scheduled_at", "id");

-- CreateIndex
CREATE INDEX "posts_title_id_idx" ON "posts"("title", "id");

-- CreateIndex
CREATE INDEX "posts_status_platform_created_at_id_idx" ON "posts"("status", "platform", "created_at", "id");

-- CreateIndex
CREATE INDEX "posts_status_created_at_id_idx" ON "posts"("status", "created_at", "id");

-- CreateIndex
CREATE INDEX "posts_client_id_created_at_id_idx" ON "posts"("client_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "posts_client_id_status_platform_idx" ON "posts"("client_id", "status", "platform");

-- CreateIndex
CREATE INDEX "posts_client_id_scheduled_at_id_idx" ON "posts"("client_id", "scheduled_at", "id");

-- CreateIndex
CREATE INDEX "posts_project_id_created_at_id_idx" ON "posts"("project_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "posts_author_id_created_at_id_idx" ON "posts"("author_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "deliverables_project_id_created_at_id_idx" ON "deliverables"("project_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "deliverables_project_id_due_date_id_idx" ON "deliverables"("project_id", "due_date", "id");

-- CreateIndex
CREATE INDEX "deliverables_client_id_due_date_id_idx" ON "deliverables"("client_id", "due_date", "id");

-- CreateIndex
CREATE INDEX "deliverables_client_id_created_at_id_idx" ON "deliverables"("client_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "deliverables_assignee_id_due_date_id_idx" ON "deliverables"("assignee_id", "due_date", "id");

-- CreateIndex
CREATE INDEX "deliverables_status_due_date_id_idx" ON "deliverables"("status", "due_date", "id");

-- CreateIndex
CREATE INDEX "deliverables_due_date_id_idx" ON "deliverables"("due_date", "id");

-- CreateIndex
CREATE INDEX "deliverables_created_at_id_idx" ON "deliverables"("created_at", "id");

-- AddForeignKey
ALTER TABLE "users" ADD CONSTRAINT "users_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "clients"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "projects" ADD CONSTRAINT "projects_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "clients"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "posts" ADD CONSTRAINT "posts_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "posts" ADD CONSTRAINT "posts_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "clients"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "posts" ADD CONSTRAINT "posts_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deliverables" ADD CONSTRAINT "deliverables_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deliverables" ADD CONSTRAINT "deliverables_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "clients"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deliverables" ADD CONSTRAINT "deliverables_assignee_id_fkey" FOREIGN KEY ("assignee_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
