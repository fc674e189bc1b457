-- Server-side apply's field ownership (`metadata.managedFields`): who set which fields, by Apply or
-- Update, in FieldsV1. A column of its own beside finalizers and owner references, written with the
-- object by spec writes; status writes (agents' reports, the binder) leave it as it is. Existing
-- objects start with no entries, as objects created before a kube-apiserver recorded them.

-- AlterTable
ALTER TABLE "edge_nodes" ADD COLUMN "managed_fields" JSONB NOT NULL DEFAULT '[]';
ALTER TABLE "tenants" ADD COLUMN "managed_fields" JSONB NOT NULL DEFAULT '[]';
ALTER TABLE "models" ADD COLUMN "managed_fields" JSONB NOT NULL DEFAULT '[]';
ALTER TABLE "model_profiles" ADD COLUMN "managed_fields" JSONB NOT NULL DEFAULT '[]';
ALTER TABLE "inference_services" ADD COLUMN "managed_fields" JSONB NOT NULL DEFAULT '[]';
ALTER TABLE "training_jobs" ADD COLUMN "managed_fields" JSONB NOT NULL DEFAULT '[]';
ALTER TABLE "tasks" ADD COLUMN "managed_fields" JSONB NOT NULL DEFAULT '[]';
ALTER TABLE "events" ADD COLUMN "managed_fields" JSONB NOT NULL DEFAULT '[]';
