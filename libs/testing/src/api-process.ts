// Test-only: the real API server process (apps/api-server/src/main.ts) over HTTPS, on this test
// file's own cloned database. Spawned rather than imported: libs never import apps.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type TestDatabase } from "./database.js";
import { freePort } from "./ports.js";

/** The repository root (this file is libs/testing/src/). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export interface SpawnedApiServer {
  url: string;
  port: number;
  adminToken: string;
  /** The generated CA (PEM) and its file. */
  caPem: string;
  caPath: string;
  dataDir: string;
  databaseUrl: string;
  /** Kills the process (SIGKILL: connections break as in a crash). */
  kill(): Promise<void>;
  /** Starts the process again on the same port, data dir and database. */
  start(): Promise<void>;
  /** Stops the process and drops the database and data dir. */
  close(): Promise<void>;
}

function livez(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.request({ host: "127.0.0.1", port, path: "/livez", ca, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** Starts `apps/api-server/src/main.ts` and waits until it answers /livez over HTTPS. */
export async function spawnApiServer(): Promise<SpawnedApiServer> {
  const db: TestDatabase = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), "eiaas-api-"));
  const port = await freePort();
  const adminToken = randomBytes(24).toString("base64url");
  const caPath = join(dataDir, "pki", "ca.crt");
  let child: ChildProcess | undefined;
  let output = "";

  const start = async () => {
    output = "";
    child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "apps/api-server/src/main.ts")], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        EIAAS_PORT: String(port),
        EIAAS_HOST: "127.0.0.1",
        EIAAS_DATA_DIR: dataDir,
        EIAAS_ADMIN_TOKEN: adminToken,
        EIAAS_LOG_LEVEL: "warn",
        // Tests create objects fast; the defaults are for tenants in production.
        EIAAS_RATE_LIMIT_QPS: "10000",
        EIAAS_RATE_LIMIT_BURST: "10000",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (c) => (output += c));
    child.stderr?.on("data", (c) => (output += c));
    // Loading the server's modules takes seconds, more on a busy machine.
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the API server exited (${child.exitCode}): ${output}`);
      if (existsSync(caPath) && (await livez(port, await readFile(caPath, "utf8")))) return;
      if (Date.now() > deadline) throw new Error(`the API server did not start within 90 s: ${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((r) => {
      c.once("exit", () => r());
      c.kill("SIGKILL");
    });
  };

  await start();
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    adminToken,
    caPem: await readFile(caPath, "utf8"),
    caPath,
    dataDir,
    databaseUrl: db.url,
    kill,
    start,
    close: async () => {
      await kill();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
