import { defineConfig } from "vitest/config";

const SOURCES = ["apps/*/src/**/*.test.ts", "libs/*/src/**/*.test.ts", "bench/**/*.test.ts", "scripts/**/*.test.ts"];
// End-to-end tests start processes (agents, API servers, the demo) or whole control planes:
// minutes where the rest take seconds. `npx vitest run --project unit` leaves them out.
const E2E = SOURCES.map((glob) => glob.replace(/\.test\.ts$/, ".e2e.test.ts"));

export default defineConfig({
  test: {
    globalSetup: ["libs/testing/src/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two cores: more workers only contend for the same Postgres.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: "unit", include: SOURCES, exclude: ["**/node_modules/**", ...E2E] } },
      { extends: true, test: { name: "e2e", include: E2E, exclude: ["**/node_modules/**"] } },
    ],
  },
});
