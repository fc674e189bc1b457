// The API server process: `node --import tsx apps/api-server/src/main.ts`.
import { startTelemetry } from "@eiaas/telemetry";
import { loadApiServerEnv } from "./config.js";
import { startApiServer } from "./server.js";

const env = loadApiServerEnv();
// Before anything else runs: traces (only with OTEL_EXPORTER_OTLP_ENDPOINT set).
const telemetry = await startTelemetry({ serviceName: "eiaas-api-server" });
try {
  const server = await startApiServer(env);
  if (server.generatedAdminToken) {
    // Shown once: only its hash is stored.
    console.log(`admin token (shown once): ${server.generatedAdminToken}`);
  }
  const stop = async (signal: string) => {
    server.logger.info({ signal }, "shutting down");
    await server.close();
    await telemetry.shutdown();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
} catch (err) {
  console.error(`error: ${(err as Error).message}`);
  process.exit(1);
}
