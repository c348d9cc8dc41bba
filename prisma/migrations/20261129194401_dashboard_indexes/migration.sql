-- CreateIndex
CREATE INDEX "deliverables_client_id_status_due_date_idx" ON "deliverables"("client_id", "status", "due_date");

-- CreateIndex
CREATE INDEX "projects_client_id_status_idx" ON "projects"("client_id", "status");
