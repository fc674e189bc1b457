/**
 * Where kubeconfig lives and how one file of it is read and written, as kubectl (client-go's
 * clientcmd) does: `--kubeconfig` alone, else every file `KUBECONFIG` lists, else `~/.kube/config`.
 * A file is kept as parsed, every field included (`extensions`, `preferences`, exec users...), so a
 * rewrite by eictl loses nothing another tool put there.
 */
import { chmod, mkdir, open, readFile, realpath, rename, stat, unlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { parse, stringify } from "yaml";
import { ConfigError } from "./errors.js";

/** Which kubeconfig files to use. */
export interface KubeconfigLocation {
  /** `--kubeconfig`: this file only (KUBECONFIG and ~/.kube/config are then ignored). */
  explicitPath?: string;
  /** Where `KUBECONFIG` and `HOME` are read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

export interface KubeconfigPaths {
  /** In precedence order: for each name, the first file that defines it wins. */
  files: string[];
  /** Set by `--kubeconfig`. */
  explicit: boolean;
  /** Taken from `KUBECONFIG`. */
  fromEnv: boolean;
}

/** The files of a location, as client-go's loading rules list them (duplicates and empty entries dropped). */
export function kubeconfigPaths(loc: KubeconfigLocation = {}): KubeconfigPaths {
  if (loc.explicitPath) return { files: [resolve(loc.explicitPath)], explicit: true, fromEnv: false };
  const env = loc.env ?? process.env;
  const listed = [
    ...new Set(
      (env.KUBECONFIG ?? "")
        .split(delimiter)
        .filter(Boolean)
        .map((p) => resolve(p)),
    ),
  ];
  if (listed.length) return { files: listed, explicit: false, fromEnv: true };
  return { files: [join(env.HOME || homedir(), ".kube", "config")], explicit: false, fromEnv: false };
}

/** The three named lists of a kubeconfig and the key of each entry's body. */
export const SECTIONS = { clusters: "cluster", users: "user", contexts: "context" } as const;
export type Section = keyof typeof SECTIONS;

/** One `- name: N\n  cluster|user|context: {...}` entry, with whatever else it carries. */
export type RawEntry = Record<string, unknown> & { name: string };

/** One kubeconfig file as read: `doc` is the whole document, to be written back as it is. */
export interface KubeconfigFile {
  path: string;
  exists: boolean;
  doc: Record<string, unknown>;
  /** Set by the editing functions: the file must be written. */
  dirty?: boolean;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkDocument(doc: unknown, path: string): Record<string, unknown> {
  if (doc === null || doc === undefined) return {};
  if (!isMapping(doc)) throw new ConfigError(`the kubeconfig file ${path} must be a mapping (apiVersion: v1, kind: Config)`);
  if (doc.kind !== undefined && doc.kind !== null && doc.kind !== "Config") throw new ConfigError(`the kubeconfig file ${path}: kind must be Config, not ${JSON.stringify(doc.kind)}`);
  const current = doc["current-context"];
  if (current !== undefined && current !== null && typeof current !== "string") throw new ConfigError(`the kubeconfig file ${path}: current-context must be a string`);
  for (const section of Object.keys(SECTIONS) as Section[]) {
    const list = doc[section];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new ConfigError(`the kubeconfig file ${path}: ${section} must be a list`);
    list.forEach((entry, i) => {
      if (!isMapping(entry) || typeof entry.name !== "string" || !entry.name) throw new ConfigError(`the kubeconfig file ${path}: ${section}[${i}] needs a name`);
      const body = entry[SECTIONS[section]];
      if (body !== undefined && body !== null && !isMapping(body)) throw new ConfigError(`the kubeconfig file ${path}: ${section}[${i}].${SECTIONS[section]} must be a mapping`);
    });
  }
  return doc;
}

/** Reads one file; a missing one is empty, an unreadable or malformed one a ConfigError naming it. */
export async function readKubeconfigFile(path: string): Promise<KubeconfigFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { path, exists: false, doc: {} };
    throw new ConfigError(`cannot read the kubeconfig file ${path}: ${code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ConfigError(`the kubeconfig file ${path} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  return { path, exists: true, doc: checkDocument(doc, path) };
}

/** The entries of a section of one file (an absent list is empty). */
export function entriesOf(file: KubeconfigFile, section: Section): RawEntry[] {
  const list = file.doc[section];
  return Array.isArray(list) ? (list as RawEntry[]) : [];
}

/** The body (`cluster:`, `user:` or `context:`) of an entry; an absent one reads as empty. */
export function bodyOf(entry: RawEntry, section: Section): Record<string, unknown> {
  const body = entry[SECTIONS[section]];
  return isMapping(body) ? body : {};
}

/**
 * The body of the entry `name` of a file's section to change in place: the entry is appended when
 * absent, and the file marked for writing.
 */
export function editEntry(file: KubeconfigFile, section: Section, name: string): Record<string, unknown> {
  const list = entriesOf(file, section);
  let entry = list.find((e) => e.name === name);
  if (!entry) {
    entry = { name };
    file.doc[section] = [...list, entry];
  }
  const key = SECTIONS[section];
  if (!isMapping(entry[key])) entry[key] = {};
  file.dirty = true;
  return entry[key] as Record<string, unknown>;
}

/** Removes every entry `name` of a file's section; marks the file for writing. */
export function removeEntry(file: KubeconfigFile, section: Section, name: string): void {
  file.doc[section] = entriesOf(file, section).filter((e) => e.name !== name);
  file.dirty = true;
}

/**
 * Writes a file atomically (a temporary file renamed over it, so a crash leaves the old or the new
 * one). Through a symbolic link the target is replaced, not the link. A new file gets mode 0600 (it
 * holds bearer tokens) and a new directory 0700; an existing file keeps its mode, as kubectl's.
 */
export async function writeKubeconfigFile(file: KubeconfigFile): Promise<void> {
  const target = await realpath(file.path).catch(() => file.path);
  const mode = await stat(target).then(
    (s) => s.mode & 0o777,
    () => 0o600,
  );
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  const doc = { apiVersion: "v1", kind: "Config", ...file.doc };
  if (!doc.apiVersion) doc.apiVersion = "v1";
  if (!doc.kind) doc.kind = "Config";
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, stringify(doc, { lineWidth: 0 }), { mode });
    // writeFile's mode is filtered by the umask: force it.
    await chmod(tmp, mode);
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new ConfigError(`cannot write the kubeconfig file ${file.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  file.exists = true;
  file.dirty = false;
}

/** A lock older than this is left over from a crashed writer and is taken over. */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 15_000;

async function lock(path: string): Promise<() => Promise<void>> {
  const lockPath = `${path}.lock`;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch(() => undefined);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await (await open(lockPath, "wx", 0o600)).close();
      return () => unlink(lockPath).catch(() => undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new ConfigError(`cannot lock the kubeconfig file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      const age = await stat(lockPath).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) await unlink(lockPath).catch(() => undefined);
      else if (Date.now() > deadline) throw new ConfigError(`the kubeconfig file ${path} is locked by another process (remove ${lockPath} if none is running)`);
      else await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * Runs `fn` holding `<file>.lock` of each path (as kubectl locks a file it writes), taken in sorted
 * order so two processes cannot deadlock; two eictl changing contexts at once lose nothing.
 */
export async function withLocks<T>(paths: string[], fn: () => Promise<T>): Promise<T> {
  const unlocks: Array<() => Promise<void>> = [];
  try {
    for (const p of [...new Set(paths)].sort()) unlocks.push(await lock(p));
    return await fn();
  } finally {
    for (const u of unlocks.reverse()) await u();
  }
}
