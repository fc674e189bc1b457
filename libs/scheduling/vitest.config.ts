import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Runs the scheduling library's tests and eictl plan's without the repository's global setup (which
// starts Postgres and Redis that these pure tests do not need).
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["libs/scheduling/src/**/*.test.ts", "apps/eictl/src/commands/plan.test.ts"],
    testTimeout: 30_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
