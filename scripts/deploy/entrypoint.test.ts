// deploy/entrypoint.sh run for real with the repository as its app directory: help, pass-through,
// probe, and `migrate` against the test Postgres. (image.docker.test.ts runs it inside the image.)
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ROOT } from "../testkit/helm.js";
import { ENTRYPOINT, entrypointCommands } from "../testkit/compose.js";

function entrypoint(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync("sh", [ENTRYPOINT, ...args], {
    env: { ...process.env, EIAAS_APP_DIR: ROOT, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("deploy/entrypoint.sh", () => {
  it("is valid POSIX sh", () => {
    const r = spawnSync("sh", ["-n", ENTRYPOINT], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("dispatches each app to its workspace's src/main.ts, and migrate to the migrator", () => {
    const cmds = entrypointCommands();
    for (const app of ["api-server", "scheduler", "agent", "eictl"]) {
      expect(cmds.get(app), app).toBe(`apps/${app}/src/main.ts`);
      expect(existsSync(join(ROOT, "apps", app, "package.json")), `workspace apps/${app}`).toBe(true);
    }
    expect(existsSync(join(ROOT, "apps/api-server/src/main.ts"))).toBe(true);
    expect(cmds.has("migrate")).toBe(true);
    expect(readFileSync(ENTRYPOINT, "utf8")).toMatch(/node --import tsx libs\/db\/src\/migrate-cli\.ts/);
    expect(existsSync(join(ROOT, "libs/db/src/migrate-cli.ts"))).toBe(true);
    expect(cmds.has("probe")).toBe(true);
  });

  it("help lists every command", () => {
    const r = entrypoint(["help"]);
    expect(r.code).toBe(0);
    for (const c of ["api-server", "scheduler", "agent", "eictl", "migrate", "probe URL"]) expect(r.stdout).toContain(c);
    expect(r.stdout).not.toContain("set -eu");
  });

  it("runs anything else as a command", () => {
    const r = entrypoint(["echo", "hello", "world"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("hello world\n");
  });

  describe("probe", () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      server = createServer((req, res) => {
        res.statusCode = req.url === "/readyz" ? 200 : 503;
        res.end();
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("exits 0 on 2xx, 1 otherwise, 1 when nothing listens, 2 without a URL", async () => {
      // spawnSync would block the event loop that serves the requests: run the probes async.
      const run = (args: string[]) =>
        new Promise<number | null>((resolve) => {
          const p = spawn("sh", [ENTRYPOINT, ...args], { env: { ...process.env, EIAAS_APP_DIR: ROOT }, stdio: "ignore" });
          p.on("exit", (code) => resolve(code));
        });
      expect(await run(["probe", `${base}/readyz`])).toBe(0);
      expect(await run(["probe", `${base}/livez`])).toBe(1);
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((r) => closed.close(() => r()));
      expect(await run(["probe", `http://127.0.0.1:${port}/readyz`])).toBe(1);
      expect(await run(["probe"])).toBe(2);
    });
  });

  describe("migrate", () => {
    const database = `eiaas_entrypoint_${process.pid}`;
    let serverUrl: string;
    let url: string;
    beforeAll(async () => {
      serverUrl = inject("postgresUrl");
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${database}`);
      await c.end();
      const u = new URL(serverUrl);
      u.pathname = `/${database}`;
      url = u.toString();
    });
    afterAll(async () => {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await c.end();
    });

    it("applies every migration to an empty database, then finds them applied", async () => {
      const migrations = readdirSync(join(ROOT, "prisma/migrations"), { withFileTypes: true }).filter((d) => d.isDirectory()).length;
      const first = entrypoint(["migrate"], { DATABASE_URL: url });
      expect(first.stderr).toBe("");
      expect(first.code).toBe(0);
      expect(first.stdout).toContain(`migrations: ${migrations} applied`);
      const second = entrypoint(["migrate"], { DATABASE_URL: url });
      expect(second.code).toBe(0);
      expect(second.stdout).toContain(`0 applied, ${migrations} already applied`);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const rows = await c.query(`SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE finished_at IS NOT NULL`);
      await c.end();
      expect(rows.rows[0].n).toBe(migrations);
    });

    it("retries while the database is unreachable and gives up after EIAAS_MIGRATE_ATTEMPTS", () => {
      const r = entrypoint(["migrate"], { DATABASE_URL: "postgresql://nobody:x@127.0.0.1:1/none", EIAAS_MIGRATE_ATTEMPTS: "2" });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("migrate: attempt 1/2 failed");
      expect(r.stderr).toContain("migrate: giving up after 2 attempts");
    });
  });
});
