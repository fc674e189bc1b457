import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Runs the ONNX library's and the reference models' tests without the repository's global setup
// (Postgres and Redis, which these tests do not need).
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["libs/onnx/src/**/*.test.ts", "scripts/models/**/*.test.ts"],
    testTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
