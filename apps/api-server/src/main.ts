// The API server process: `node --import tsx apps/api-server/src/main.ts`.
import { loadApiServerEnv } from "./config.js";
import { startApiServer } from "./server.js";

const env = loadApiServerEnv();
try {
  const server = await startApiServer(env);
  if (server.generatedAdminToken) {
    // Shown once: only its hash is stored.
    console.log(`admin token (shown once): ${server.generatedAdminToken}`);
  }
  const stop = async (signal: string) => {
    server.logger.info({ signal }, "shutting down");
    await server.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
} catch (err) {
  console.error(`error: ${(err as Error).message}`);
  process.exit(1);
}
