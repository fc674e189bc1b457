-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "edge_nodes" (
    "uid" UUID NOT NULL,
    "namespace" TEXT NOT NULL DEFAULT '',
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
    "tier" TEXT NOT NULL DEFAULT '',
    "parent" TEXT,

    CONSTRAINT "edge_nodes_pkey" PRIMARY KEY ("uid")
);

-- CreateTable
CREATE TABLE "tenants" (
    "uid" UUID NOT NULL,
    "namespace" TEXT NOT NULL DEFAULT '',
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

    CONSTRAINT "tenants_pkey" PRIMARY KEY ("uid")
);

-- CreateTable
CREATE TABLE "models" (
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

    CONSTRAINT "models_pkey" PRIMARY KEY ("uid")
);

-- CreateTable
CREATE TABLE "inference_services" (
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
    "model_name" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "inference_services_pkey" PRIMARY KEY ("uid")
);

-- CreateTable
CREATE TABLE "training_jobs" (
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
    "model_name" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "training_jobs_pkey" PRIMARY KEY ("uid")
);

-- CreateTable
CREATE TABLE "tasks" (
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
    "node_name" TEXT NOT NULL DEFAULT '',
    "owner_uid" UUID,
    "attempt" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "tasks_pkey" PRIMARY KEY ("uid")
);

-- CreateTable
CREATE TABLE "events" (
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
    "involved_uid" UUID,
    "involved_kind" TEXT NOT NULL DEFAULT '',
    "involved_name" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "events_pkey" PRIMARY KEY ("uid")
);

-- CreateTable
CREATE TABLE "resource_version_counter" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "value" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "resource_version_counter_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "watch_events" (
    "resource_version" BIGINT NOT NULL,
    "kind" TEXT NOT NULL,
    "namespace" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "object" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "watch_events_pkey" PRIMARY KEY ("resource_version")
);

-- CreateTable
CREATE TABLE "watch_compaction" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "resource_version" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "watch_compaction_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_tokens" (
    "id" UUID NOT NULL,
    "scope" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "tenant" TEXT,
    "node_name" TEXT,
    "token_hash" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "api_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "node_leases" (
    "node_name" TEXT NOT NULL,
    "holder" TEXT NOT NULL DEFAULT '',
    "renew_time" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "node_leases_pkey" PRIMARY KEY ("node_name")
);

-- CreateIndex
CREATE INDEX "edge_nodes_labels_idx" ON "edge_nodes" USING GIN ("labels" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "edge_nodes_phase_idx" ON "edge_nodes"("phase");

-- CreateIndex
CREATE INDEX "edge_nodes_resource_version_idx" ON "edge_nodes"("resource_version");

-- CreateIndex
CREATE UNIQUE INDEX "edge_nodes_namespace_name_key" ON "edge_nodes"("namespace", "name");

-- CreateIndex
CREATE INDEX "tenants_labels_idx" ON "tenants" USING GIN ("labels" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "tenants_resource_version_idx" ON "tenants"("resource_version");

-- CreateIndex
CREATE UNIQUE INDEX "tenants_namespace_name_key" ON "tenants"("namespace", "name");

-- CreateIndex
CREATE INDEX "models_labels_idx" ON "models" USING GIN ("labels" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "models_resource_version_idx" ON "models"("resource_version");

-- CreateIndex
CREATE UNIQUE INDEX "models_namespace_name_key" ON "models"("namespace", "name");

-- CreateIndex
CREATE INDEX "inference_services_labels_idx" ON "inference_services" USING GIN ("labels" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "inference_services_phase_idx" ON "inference_services"("phase");

-- CreateIndex
CREATE INDEX "inference_services_resource_version_idx" ON "inference_services"("resource_version");

-- CreateIndex
CREATE UNIQUE INDEX "inference_services_namespace_name_key" ON "inference_services"("namespace", "name");

-- CreateIndex
CREATE INDEX "training_jobs_labels_idx" ON "training_jobs" USING GIN ("labels" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "training_jobs_phase_idx" ON "training_jobs"("phase");

-- CreateIndex
CREATE INDEX "training_jobs_resource_version_idx" ON "training_jobs"("resource_version");

-- CreateIndex
CREATE UNIQUE INDEX "training_jobs_namespace_name_key" ON "training_jobs"("namespace", "name");

-- CreateIndex
CREATE INDEX "tasks_labels_idx" ON "tasks" USING GIN ("labels" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "tasks_phase_idx" ON "tasks"("phase");

-- CreateIndex
CREATE INDEX "tasks_node_name_phase_idx" ON "tasks"("node_name", "phase");

-- CreateIndex
CREATE INDEX "tasks_owner_uid_idx" ON "tasks"("owner_uid");

-- CreateIndex
CREATE INDEX "tasks_resource_version_idx" ON "tasks"("resource_version");

-- CreateIndex
CREATE UNIQUE INDEX "tasks_namespace_name_key" ON "tasks"("namespace", "name");

-- CreateIndex
CREATE INDEX "events_labels_idx" ON "events" USING GIN ("labels" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "events_involved_uid_idx" ON "events"("involved_uid");

-- CreateIndex
CREATE INDEX "events_resource_version_idx" ON "events"("resource_version");

-- CreateIndex
CREATE UNIQUE INDEX "events_namespace_name_key" ON "events"("namespace", "name");

-- CreateIndex
CREATE INDEX "watch_events_kind_resource_version_idx" ON "watch_events"("kind", "resource_version");

-- CreateIndex
CREATE UNIQUE INDEX "api_tokens_token_hash_key" ON "api_tokens"("token_hash");

-- CreateIndex
CREATE INDEX "api_tokens_tenant_idx" ON "api_tokens"("tenant");

-- CreateIndex
CREATE UNIQUE INDEX "api_tokens_scope_name_key" ON "api_tokens"("scope", "name");


-- Seed the single-row counters the store locks (not expressible in schema.prisma).
INSERT INTO "resource_version_counter" ("id", "value") VALUES (1, 0);
INSERT INTO "watch_compaction" ("id", "resource_version") VALUES (1, 0);
