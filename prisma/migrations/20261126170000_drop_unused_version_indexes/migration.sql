-- DropIndex
DROP INDEX "edge_nodes_resource_version_idx";

-- DropIndex
DROP INDEX "tenants_resource_version_idx";

-- DropIndex
DROP INDEX "models_resource_version_idx";

-- DropIndex
DROP INDEX "inference_services_resource_version_idx";

-- DropIndex
DROP INDEX "training_jobs_resource_version_idx";

-- DropIndex
DROP INDEX "tasks_resource_version_idx";

-- DropIndex
DROP INDEX "events_resource_version_idx";

