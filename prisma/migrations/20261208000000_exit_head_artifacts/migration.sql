-- Early-exit heads as artifacts (issue 20 part 1): a Model's ONNX files are its base graph and one
-- file per declared exit (`PUT .../models/{name}/artifact?exit=N`, the head reading the cut tensor
-- after layer N). `exit_after` says which: 0 is the base graph, N ≥ 1 the exit after layer N. The
-- rows already stored are base graphs (0); blobs, chunks, files and their cascade are unchanged.

-- AlterTable
ALTER TABLE "model_artifacts" ADD COLUMN "exit_after" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "model_artifacts" DROP CONSTRAINT "model_artifacts_pkey";
ALTER TABLE "model_artifacts" ADD CONSTRAINT "model_artifacts_pkey" PRIMARY KEY ("model_uid", "exit_after");
