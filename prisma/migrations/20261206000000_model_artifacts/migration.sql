-- The ONNX file of each Model (its artifact), kept apart from the object (which stays small). Keyed
-- by the Model's uid: a Model deleted and created again under the same name never sees the old
-- bytes, and every row below goes with its Model (the foreign keys cascade on the Model's delete,
-- a namespace's cleanup included).
--
-- In Postgres the bytes are a blob of 1 MiB bytea chunks, not one bytea value (1 GiB at most, and
-- read or written whole in the server's and the API's memory) nor a large object (pg_largeobject
-- rows outlive their owner unless unlinked: no cascade, and vacuumlo to find them). A blob is
-- written chunk by chunk as the upload arrives and made the Model's artifact by one short
-- transaction at its end; the artifact it replaces is deleted in that transaction. An upload that
-- died with its server leaves a blob nothing points at: the garbage collection removes it once
-- it has not been touched for a while (`touched_at`, renewed with each chunk).
-- With a directory configured (EIAAS_ARTIFACT_DIR) the bytes are a file named by their sha256
-- and the row points at it (`storage = 'directory'`, no blob).

-- CreateTable
CREATE TABLE "model_artifact_blobs" (
    "id" UUID NOT NULL,
    "model_uid" UUID NOT NULL,
    "touched_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "model_artifact_blobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "model_artifact_chunks" (
    "blob_id" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "data" BYTEA NOT NULL,

    CONSTRAINT "model_artifact_chunks_pkey" PRIMARY KEY ("blob_id","seq")
);

-- CreateTable
CREATE TABLE "model_artifacts" (
    "model_uid" UUID NOT NULL,
    "sha256" TEXT NOT NULL,
    "size_bytes" BIGINT NOT NULL,
    "storage" TEXT NOT NULL,
    "blob_id" UUID,
    "uploaded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "model_artifacts_pkey" PRIMARY KEY ("model_uid")
);

-- CreateIndex
CREATE INDEX "model_artifact_blobs_model_uid_idx" ON "model_artifact_blobs"("model_uid");

-- CreateIndex
CREATE INDEX "model_artifacts_sha256_idx" ON "model_artifacts"("sha256");

-- AddForeignKey
ALTER TABLE "model_artifact_blobs" ADD CONSTRAINT "model_artifact_blobs_model_uid_fkey" FOREIGN KEY ("model_uid") REFERENCES "models"("uid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "model_artifact_chunks" ADD CONSTRAINT "model_artifact_chunks_blob_id_fkey" FOREIGN KEY ("blob_id") REFERENCES "model_artifact_blobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "model_artifacts" ADD CONSTRAINT "model_artifacts_model_uid_fkey" FOREIGN KEY ("model_uid") REFERENCES "models"("uid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "model_artifacts" ADD CONSTRAINT "model_artifacts_blob_id_fkey" FOREIGN KEY ("blob_id") REFERENCES "model_artifact_blobs"("id") ON DELETE NO ACTION ON UPDATE CASCADE;

-- Model weights do not compress: stored out of line without pglz's attempt (not expressible in
-- schema.prisma).
ALTER TABLE "model_artifact_chunks" ALTER COLUMN "data" SET STORAGE EXTERNAL;
-- Nothing filters or sorts on the bytes: no statistics of them (as migration analyze_statistics).
ALTER TABLE "model_artifact_chunks" ALTER COLUMN "data" SET STATISTICS 0;
