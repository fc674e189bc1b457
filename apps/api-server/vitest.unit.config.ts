import { defineConfig } from "vitest/config";

// Runs this app's pure unit tests (TLS, kubeconfig, discovery, OpenAPI, Table) without the
// repository's globalSetup, which starts Postgres and Redis that these tests do not need.
export default defineConfig({
  test: {
    include: ["src/{tls,kubeconfig,discovery,openapi,table}.test.ts"],
    testTimeout: 30_000,
  },
});
