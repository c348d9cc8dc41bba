-- CreateIndex
CREATE INDEX "posts_status_platform_updated_at_id_idx" ON "posts"("status", "platform", "updated_at", "id");

-- CreateIndex
CREATE INDEX "posts_status_platform_scheduled_at_id_idx" ON "posts"("status", "platform", "scheduled_at", "id");

-- CreateIndex
CREATE INDEX "posts_status_platform_title_id_idx" ON "posts"("status", "platform", "title", "id");

-- CreateIndex
CREATE INDEX "posts_client_id_updated_at_id_idx" ON "posts"("client_id", "updated_at", "id");

-- CreateIndex
CREATE INDEX "posts_client_id_title_id_idx" ON "posts"("client_id", "title", "id");

-- CreateIndex
CREATE INDEX "posts_project_id_updated_at_id_idx" ON "posts"("project_id", "updated_at", "id");

-- CreateIndex
CREATE INDEX "posts_project_id_scheduled_at_id_idx" ON "posts"("project_id", "scheduled_at", "id");

-- CreateIndex
CREATE INDEX "posts_project_id_title_id_idx" ON "posts"("project_id", "title", "id");

-- CreateIndex
CREATE INDEX "posts_author_id_updated_at_id_idx" ON "posts"("author_id", "updated_at", "id");

-- CreateIndex
CREATE INDEX "posts_author_id_scheduled_at_id_idx" ON "posts"("author_id", "scheduled_at", "id");

-- CreateIndex
CREATE INDEX "posts_author_id_title_id_idx" ON "posts"("author_id", "title", "id");

-- CreateIndex
CREATE INDEX "projects_status_due_date_id_idx" ON "projects"("status", "due_date", "id");

-- CreateIndex
CREATE INDEX "projects_status_name_id_idx" ON "projects"("status", "name", "id");
