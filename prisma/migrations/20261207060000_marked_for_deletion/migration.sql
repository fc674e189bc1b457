-- The propagation controller (Kubernetes' garbage collector's part in Foreground and Orphan
-- deletes) looks every 2 s in every kind but Events for objects marked for deletion that hold its
-- finalizers. Almost no row is ever marked: a partial index on the marked ones keeps that look at
-- a few index pages instead of a scan of the table (tasks most of all). Rows not marked are not in
-- it, so creates and status reports (HOT updates: deletion_timestamp does not change) pay nothing.
-- Partial indexes are not expressible in schema.prisma.

-- CreateIndex
CREATE INDEX "edge_nodes_marked_idx" ON "edge_nodes"("deletion_timestamp") WHERE "deletion_timestamp" IS NOT NULL;
CREATE INDEX "tenants_marked_idx" ON "tenants"("deletion_timestamp") WHERE "deletion_timestamp" IS NOT NULL;
CREATE INDEX "models_marked_idx" ON "models"("deletion_timestamp") WHERE "deletion_timestamp" IS NOT NULL;
CREATE INDEX "model_profiles_marked_idx" ON "model_profiles"("deletion_timestamp") WHERE "deletion_timestamp" IS NOT NULL;
CREATE INDEX "inference_services_marked_idx" ON "inference_services"("deletion_timestamp") WHERE "deletion_timestamp" IS NOT NULL;
CREATE INDEX "training_jobs_marked_idx" ON "training_jobs"("deletion_timestamp") WHERE "deletion_timestamp" IS NOT NULL;
CREATE INDEX "tasks_marked_idx" ON "tasks"("deletion_timestamp") WHERE "deletion_timestamp" IS NOT NULL;
