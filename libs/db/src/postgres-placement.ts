// Where a root-run embedded PostgreSQL keeps what its OS user ("postgres") must reach. Root
// cloning into its own home (mode 700) and running `npm run demo` is the common case in
// containers and VMs: neither the data directory nor node_modules' binaries can be entered by
// the postgres user there. Then the cluster lives in `<shared>/clusters/` with a symbolic link
// at the data directory pointing to it, and the binaries are copied once to `<shared>/`.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from "node:fs";
import { chmod, cp, mkdir, readdir, rename, rm, rmdir, stat, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { PostgresBinaries } from "./postgres-process.js";

/** Default of `EmbeddedPostgresOptions.sharedDir` (EIAAS_EMBEDDED_PG_SHARED_DIR). */
export const DEFAULT_SHARED_DIR = "/var/lib/eiaas";

/**
 * The first existing directory on the way to `path` (below /, `path` itself excluded) that users
 * other than its owner cannot enter, if any: a root-owned 0700 directory such as root's home or
 * what `mktemp -d` makes keeps the postgres user out.
 */
export function unreachableAncestor(path: string): string | undefined {
  const ancestors: string[] = [];
  for (let d = dirname(resolve(path)); d !== dirname(d); d = dirname(d)) ancestors.unshift(d);
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

/** Creates `dir` (and its parents) so that others can enter it, or throws saying why they cannot. */
async function openDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const mode = (await stat(dir)).mode;
  if ((mode & 0o005) !== 0o005) await chmod(dir, mode | 0o755);
  const closed = unreachableAncestor(join(dir, "x"));
  if (closed) throw new Error(`the postgres OS user cannot enter ${closed} (mode ${(statSync(closed).mode & 0o777).toString(8)}); set EIAAS_EMBEDDED_PG_SHARED_DIR to a directory others can enter`);
}

/**
 * The cluster directory to run for the data directory `dataDir` when root: `dataDir` itself when
 * the postgres user can reach it; the target of a link left there by an earlier run; else a new
 * directory under `<sharedDir>/clusters/`, named after `dataDir`, linked from `dataDir`.
 */
export async function clusterDirectoryForRoot(dataDir: string, sharedDir: string): Promise<{ dir: string; linked: boolean }> {
  const at = resolve(dataDir);
  const link = lstatOrUndefined(at);
  if (link?.isSymbolicLink()) {
    const target = realpathOrUndefined(at);
    if (target && !unreachableAncestor(target)) return { dir: target, linked: true };
    if (target) throw new Error(`the embedded PostgreSQL cluster ${at} links to ${target}, which the postgres OS user cannot reach (${unreachableAncestor(target)})`);
    // A dangling link (its cluster was removed): made again below.
    await rm(at, { force: true });
  } else if (!unreachableAncestor(at)) {
    return { dir: at, linked: false };
  } else if (link) {
    // A directory the postgres user cannot reach: only an empty one (a failed first run) is replaced.
    if (readdirSync(at).length > 0) {
      const closed = unreachableAncestor(at)!;
      throw new Error(
        `embedded PostgreSQL runs as the OS user "postgres" when started as root, and it cannot enter ${closed} (mode ${(statSync(closed).mode & 0o777).toString(8)}) on the way to the existing cluster ${at}: move that directory to ${join(sharedDir, "clusters")} and leave a symbolic link in its place, or run as another user`,
      );
    }
    await rmdir(at);
  }
  const digest = createHash("sha256").update(at).digest("hex").slice(0, 12);
  const dir = join(sharedDir, "clusters", `${`${basename(dirname(at))}-${basename(at)}`.replace(/[^\w.-]/g, "_").replace(/^[.-]+/, "")}-${digest}`);
  await openDirectory(dirname(dir));
  await mkdir(dirname(at), { recursive: true });
  await symlink(dir, at);
  return { dir, linked: true };
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function realpathOrUndefined(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** Makes a copied tree readable (and its directories and programs enterable/runnable) by others. */
async function openTree(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) await openTree(path);
    else {
      const mode = (await stat(path)).mode & 0o777;
      await chmod(path, mode | 0o444 | (mode & 0o100 ? 0o111 : 0));
    }
  }
}

/**
 * The binaries as the postgres user can run them when root: where they are when it can reach
 * them, else a copy in `<sharedDir>/postgres-<version>-<platform>-<arch>` (made once, ~60 MB;
 * complete when its `.complete` marker exists, so an interrupted copy is redone).
 */
export async function binariesForRoot(binaries: PostgresBinaries, sharedDir: string): Promise<PostgresBinaries> {
  if (!unreachableAncestor(join(binaries.dir, "bin", "postgres"))) return binaries;
  const dir = join(sharedDir, `postgres-${binaries.version}-${process.platform}-${process.arch}`);
  if (existsSync(join(dir, ".complete"))) return { ...binaries, dir };
  await openDirectory(sharedDir);
  const partial = `${dir}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  // From the real directory: the path given may itself be a link (kept as one by cp).
  await cp(realpathSync(binaries.dir), partial, { recursive: true, verbatimSymlinks: true });
  await openTree(partial);
  await writeFile(join(partial, ".complete"), `${binaries.dir}\n`, { mode: 0o644 });
  await rm(dir, { recursive: true, force: true });
  await rename(partial, dir);
  return { ...binaries, dir };
}
