// The embedded PostgreSQL: a random superuser password per cluster, kept in the cluster directory
// (a cluster made with the old fixed one is moved to a random one, data kept), and — started as
// root, as in containers and VMs where root clones into its own mode-700 home — a cluster and
// binaries the postgres OS user cannot reach where they are kept where it can. Real PostgreSQL.
import { randomUUID } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres, unreachableAncestor } from "./embedded-postgres.js";
import { freePort } from "./ports.js";
import { PASSWORD_FILE } from "./postgres-password.js";
import { packagedBinaries } from "./postgres-process.js";

const asRoot = process.getuid?.() === 0;
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** A fresh temporary directory (mode 0700, as mkdtemp makes it), removed after the file. */
async function scratch(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Whether `password` logs in as the superuser; false when PostgreSQL refuses it. */
async function logsIn(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password, database: "postgres" });
  try {
    await client.connect();
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "28P01") return false;
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function query(url: string, sql: string): Promise<any[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("unreachableAncestor", () => {
  it("names the first directory on the way that others cannot enter, and nothing once they can", async () => {
    const top = await scratch("eiaas-pg-path-");
    await chmod(top, 0o700);
    expect(unreachableAncestor(join(top, "data", "postgres"))).toBe(top);
    await chmod(top, 0o711);
    expect(unreachableAncestor(join(top, "data", "postgres"))).toBeUndefined();
    // The directory itself is not an ancestor: embedded PostgreSQL takes it over.
    await chmod(top, 0o700);
    expect(unreachableAncestor(top)).toBeUndefined();
  });
});

describe("the superuser's password", () => {
  it("is random per cluster, kept in a 0600 file of the cluster directory; the old fixed one is refused", async () => {
    const top = await scratch("eiaas-pg-pw-");
    const shared = await scratch("eiaas-pg-shared-");
    await chmod(top, 0o755);
    await chmod(shared, 0o755);
    const port = await freePort();
    const server = await startEmbeddedPostgres({ dataDir: join(top, "postgres"), port, persistent: true, ephemeral: true, sharedDir: shared });
    cleanups.push(() => server.stop());
    const file = join(server.clusterDir, PASSWORD_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const password = readFileSync(file, "utf8").trim();
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(new URL(server.url("eiaas")).password).toBe(password);
    expect(await logsIn(port, password)).toBe(true);
    expect(await logsIn(port, "postgres")).toBe(false);
    // The cluster directory keeps others out too.
    expect(statSync(server.clusterDir).mode & 0o077).toBe(0);
    await server.stop();
  });

  it("of a cluster made with the old fixed password becomes a random one at its next start, its data kept", async () => {
    const top = await scratch("eiaas-pg-legacy-");
    const shared = await scratch("eiaas-pg-shared-");
    await chmod(top, 0o755);
    await chmod(shared, 0o755);
    const dataDir = join(top, "postgres");
    const port = await freePort();
    // A cluster as the old code left it: superuser password "postgres", no password file.
    const first = await startEmbeddedPostgres({ dataDir, port, persistent: true, ephemeral: true, sharedDir: shared });
    cleanups.push(() => first.stop());
    await query(first.url(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')");
    await query(first.url(), "ALTER ROLE postgres WITH PASSWORD 'postgres'");
    await rm(join(first.clusterDir, PASSWORD_FILE), { force: true });
    await first.stop();

    const again = await startEmbeddedPostgres({ dataDir, port, persistent: true, ephemeral: true, sharedDir: shared });
    cleanups.push(() => again.stop());
    const password = readFileSync(join(again.clusterDir, PASSWORD_FILE), "utf8").trim();
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(statSync(join(again.clusterDir, PASSWORD_FILE)).mode & 0o777).toBe(0o600);
    expect(await logsIn(port, "postgres")).toBe(false);
    expect(await logsIn(port, password)).toBe(true);
    expect(await query(again.url(), "SELECT v FROM kept")).toEqual([{ v: "still here" }]);
    await again.stop();
    // And the next start simply uses it.
    const third = await startEmbeddedPostgres({ dataDir, port, persistent: true, ephemeral: true, sharedDir: shared });
    cleanups.push(() => third.stop());
    expect(new URL(third.url()).password).toBe(password);
    await third.stop();
  });
});

describe("a repository in a directory others cannot enter (root's home, mode 700)", () => {
  it("starts, and as root keeps the cluster and the binaries where the postgres user reaches them, linked from the data directory", async () => {
    const home = await scratch("eiaas-pg-home700-");
    await chmod(home, 0o700);
    const shared = join(await scratch("eiaas-pg-shared-"), "var-lib-eiaas");
    await chmod(dirname(shared), 0o755);
    // The repository's node_modules binaries, as a clone into that home has them.
    const binariesDir = join(home, "repo", "node_modules", "postgres-native");
    await mkdir(dirname(binariesDir), { recursive: true });
    await symlink((await packagedBinaries()).dir, binariesDir);
    const dataDir = join(home, "repo", ".eiaas", "postgres");
    const port = await freePort();

    const server = await startEmbeddedPostgres({ dataDir, port, persistent: true, ephemeral: true, sharedDir: shared, binariesDir });
    cleanups.push(() => server.stop());
    await query(server.url(), `CREATE TABLE marker (v text); INSERT INTO marker VALUES ('${randomUUID()}')`);
    const marker = await query(server.url(), "SELECT v FROM marker");
    if (asRoot) {
      // The cluster under the shared directory, the data directory a link to it; a copy of the binaries beside it.
      expect(server.clusterDir.startsWith(join(shared, "clusters"))).toBe(true);
      expect(lstatSync(dataDir).isSymbolicLink()).toBe(true);
      expect(realpathSync(dataDir)).toBe(server.clusterDir);
      expect(unreachableAncestor(server.clusterDir)).toBeUndefined();
      const copies = readdirSync(shared).filter((d) => d.startsWith("postgres-"));
      expect(copies).toHaveLength(1);
      expect(existsSync(join(shared, copies[0]!, ".complete"))).toBe(true);
      expect(existsSync(join(shared, copies[0]!, "bin", "postgres"))).toBe(true);
    } else {
      expect(server.clusterDir).toBe(dataDir);
    }
    await server.stop();

    // The next start finds the same cluster through the link.
    const again = await startEmbeddedPostgres({ dataDir, port, persistent: true, ephemeral: true, sharedDir: shared, binariesDir });
    cleanups.push(() => again.stop());
    expect(again.clusterDir).toBe(server.clusterDir);
    expect(await query(again.url(), "SELECT v FROM marker")).toEqual(marker);
    await again.stop();
  }, 120_000);
});
