import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join, relative } from "node:path";
import { parseAllDocuments } from "yaml";
import { API_VERSION, lookupKind, type KindInfo } from "@eiaas/api";
import { CliError } from "./errors.js";
import { userPath } from "./session.js";

/** One object read from a manifest, with where it came from (for messages). */
export interface Manifest {
  kind: KindInfo;
  object: Record<string, any>;
  source: string;
}

const EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

/** Dependencies first: a namespace (Tenant) before its content, nodes and models before workloads. */
const ORDER: Record<string, number> = { Tenant: 0, EdgeNode: 1, Model: 2, InferenceService: 3, TrainingJob: 3, Task: 4, Event: 5 };

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function filesOf(dir: string, recursive: boolean): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (recursive) out.push(...(await filesOf(p, recursive)));
    } else if (EXTENSIONS.has(extname(e.name))) out.push(p);
  }
  return out;
}

function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}

/** Parses one file's documents (YAML, several per file, or JSON; `kind: List` expanded). */
function parseDocuments(text: string, source: string, fromDirectory: boolean): Manifest[] {
  const out: Manifest[] = [];
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const where = list.length > 1 ? `${source} (document ${i + 1})` : source;
    if (doc.errors.length > 0) throw new CliError(`error parsing ${where}: ${doc.errors[0]!.message.split("\n")[0]}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) return;
    const items = isList(value) ? (value.items as unknown[]) : [value];
    for (const item of items) {
      const o = item as Record<string, any>;
      if (typeof o !== "object" || o === null || Array.isArray(o) || !o.kind || !o.apiVersion) {
        // A directory may hold data files next to manifests: skipped with a warning.
        if (fromDirectory) {
          process.stderr.write(`warning: skipping ${where}: not an API object (no apiVersion and kind)\n`);
          continue;
        }
        throw new CliError(`error validating ${where}: not an API object: apiVersion and kind must be set`);
      }
      const kind = lookupKind(String(o.kind));
      if (o.apiVersion !== API_VERSION || !kind || kind.kind !== o.kind) {
        throw new CliError(`${where}: no matches for kind "${o.kind}" in version "${o.apiVersion}" (eiaas serves ${API_VERSION})`);
      }
      if (typeof o.metadata?.name !== "string" || o.metadata.name === "") throw new CliError(`${where}: ${o.kind} has no metadata.name`);
      out.push({ kind, object: o, source: where });
    }
  });
  return out;
}

function isList(v: unknown): v is { items: unknown[] } {
  const o = v as { kind?: unknown; items?: unknown };
  return typeof o === "object" && o !== null && typeof o.kind === "string" && o.kind.endsWith("List") && Array.isArray(o.items);
}

/**
 * Reads `-f` arguments: files, directories (their .yaml/.yml/.json files, sorted; subdirectories
 * with `recursive`) and `-` for stdin. Objects come back in dependency order (Tenants, EdgeNodes,
 * Models, workloads), keeping file order within a kind.
 */
export async function readManifests(paths: string[], recursive = false): Promise<Manifest[]> {
  if (paths.length === 0) throw new CliError("must specify one of -f and -k: give a file, a directory or - for stdin");
  const out: Manifest[] = [];
  for (const p of paths) {
    if (p === "-") {
      out.push(...parseDocuments(await readStdin(), "<stdin>", false));
      continue;
    }
    const path = userPath(p);
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch {
      throw new CliError(`the path "${p}" does not exist`);
    }
    const files = isDir ? await filesOf(path, recursive) : [path];
    if (isDir && files.length === 0) throw new CliError(`no .yaml, .yml or .json files in ${p}`);
    for (const f of files) out.push(...parseDocuments(await readFile(f, "utf8"), display(f), isDir));
  }
  if (out.length === 0) throw new CliError("no objects passed to the command");
  return out
    .map((m, i) => ({ m, i }))
    .sort((a, b) => (ORDER[a.m.kind.kind] ?? 9) - (ORDER[b.m.kind.kind] ?? 9) || a.i - b.i)
    .map((x) => x.m);
}

/**
 * The namespace an object goes to: its own, else -n / the context's. With -n given explicitly and a
 * different namespace in the object, refuse (as kubectl does) rather than guess.
 */
export function manifestNamespace(m: Manifest, namespace: string, explicit: boolean): string | undefined {
  if (!m.kind.namespaced) return undefined;
  const own = m.object.metadata?.namespace as string | undefined;
  if (own && explicit && own !== namespace) {
    throw new CliError(`the namespace from the provided object "${own}" does not match the namespace "${namespace}". You must pass '--namespace=${own}' to perform this operation.`);
  }
  return own ?? namespace;
}
