-- Measured per-segment timings of a Model on an EdgeNode (ModelProfile, issue 20 part 7): one row
-- per (namespace, model, node), written by the API server from agents' reports.
-- CreateTable
CREATE TABLE "model_profiles" (
    "uid" UUID NOT NULL,
    "namespace" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "resource_version" BIGINT NOT NULL,
    "generation" INTEGER NOT NULL DEFAULT 1,
    "labels" JSONB NOT NULL DEFAULT '{}',
    "annotations" JSONB NOT NULL DEFAULT '{}',
    "owner_references" JSONB NOT NULL DEFAULT '[]',
    "finalizers" JSONB NOT NULL DEFAULT '[]',
    "creation_timestamp" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deletion_timestamp" TIMESTAMPTZ(3),
    "spec" JSONB NOT NULL DEFAULT '{}',
    "status" JSONB NOT NULL DEFAULT '{}',
    "phase" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "model_profiles_pkey" PRIMARY KEY ("uid")
);

-- CreateIndex
CREATE INDEX "model_profiles_labels_idx" ON "model_profiles" USING GIN ("labels" jsonb_path_ops);

-- CreateIndex
CREATE UNIQUE INDEX "model_profiles_namespace_name_key" ON "model_profiles"("namespace", "name");

-- As every object table (migrations analyze_statistics, autovacuum_pacing): no statistics of the
-- JSON document columns, autovacuum paced.
ALTER TABLE "model_profiles" ALTER COLUMN "spec" SET STATISTICS 0;
ALTER TABLE "model_profiles" ALTER COLUMN "status" SET STATISTICS 0;
ALTER TABLE "model_profiles" ALTER COLUMN "annotations" SET STATISTICS 0;
ALTER TABLE "model_profiles" ALTER COLUMN "owner_references" SET STATISTICS 0;
ALTER TABLE "model_profiles" ALTER COLUMN "finalizers" SET STATISTICS 0;
ALTER TABLE "model_profiles" SET (autovacuum_vacuum_cost_delay = 20);
