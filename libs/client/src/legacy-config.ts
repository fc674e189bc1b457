/**
 * The private config file eictl kept before it used kubeconfig (`EIAAS_CONFIG`, else
 * `~/.eiaas/config`: `kind: Config` of `eiaas.io/v1alpha1` with `contexts[]` of server, token,
 * namespace and CA). Found, it is imported once into kubeconfig and then renamed aside, so nobody's
 * contexts are lost and no second source of contexts remains.
 */
import { existsSync } from "node:fs";
import { readFile, rename } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parse } from "yaml";
import { ConfigError } from "./errors.js";
import type { Kubeconfig } from "./kubeconfig.js";
import { editKubeconfig, encodeCaData } from "./kubeconfig-edit.js";
import { editEntry, withLocks, type KubeconfigLocation } from "./kubeconfig-files.js";

/** Where the old file is looked for: `EIAAS_CONFIG`, else `~/.eiaas/config`. */
export function legacyConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.EIAAS_CONFIG || join(env.HOME || homedir(), ".eiaas", "config");
}

interface LegacyContext {
  name: string;
  server: string;
  token?: string;
  namespace?: string;
  certificateAuthority?: string;
  certificateAuthorityData?: string;
  insecureSkipTlsVerify?: boolean;
}

/** What an import did, for the one-line notice. */
export interface LegacyImport {
  /** The old file. */
  from: string;
  /** The kubeconfig file the contexts went into. */
  into: string;
  /** Where the old file now is. */
  keptAs: string;
  imported: string[];
  /** Contexts left out because kubeconfig has one of that name already. */
  skipped: string[];
}

function readLegacy(text: string): { current?: string; contexts: LegacyContext[] } {
  const doc = parse(text) as unknown;
  if (doc === null || doc === undefined) return { contexts: [] };
  if (typeof doc !== "object" || Array.isArray(doc)) throw new Error("it is not a mapping");
  const d = doc as Record<string, unknown>;
  if (d.contexts !== undefined && d.contexts !== null && !Array.isArray(d.contexts)) throw new Error("contexts is not a list");
  const contexts = ((d.contexts as unknown[] | null | undefined) ?? []).map((raw, i) => {
    const c = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
    if (typeof c.name !== "string" || !c.name || typeof c.server !== "string" || !c.server) throw new Error(`contexts[${i}] needs a name and a server`);
    const context: LegacyContext = { name: c.name, server: c.server };
    for (const k of ["token", "namespace", "certificateAuthority", "certificateAuthorityData"] as const) {
      const v = c[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== "string") throw new Error(`contexts[${i}].${k} is not a string`);
      context[k] = v;
    }
    if (c.insecureSkipTlsVerify === true) context.insecureSkipTlsVerify = true;
    return context;
  });
  return { ...(typeof d.currentContext === "string" && d.currentContext ? { current: d.currentContext } : {}), contexts };
}

/** `base`, else `base-1`, `base-2`...: a name no entry of the section has. */
function freeName(kc: Kubeconfig, section: "clusters" | "users", base: string): string {
  let name = base;
  for (let i = 1; kc.find(section, name); i++) name = `${base}-${i}`;
  return name;
}

/** Adds one old context as a kubeconfig context with a cluster and (with a token) a user of its own. */
function addContext(kc: Kubeconfig, c: LegacyContext, from: string): void {
  const file = kc.destination();
  const clusterName = freeName(kc, "clusters", c.name);
  const cluster = editEntry(file, "clusters", clusterName);
  cluster.server = c.server;
  if (c.insecureSkipTlsVerify === true) cluster["insecure-skip-tls-verify"] = true;
  else if (c.certificateAuthorityData) {
    // The old file took the data as base64 of the PEM or as the PEM itself.
    cluster["certificate-authority-data"] = c.certificateAuthorityData.includes("-----BEGIN") ? encodeCaData(c.certificateAuthorityData) : c.certificateAuthorityData;
  } else if (c.certificateAuthority) {
    // Relative to the old file, which kubeconfig (relative to itself) would not find.
    cluster["certificate-authority"] = isAbsolute(c.certificateAuthority) ? c.certificateAuthority : resolve(dirname(from), c.certificateAuthority);
  }
  const context = editEntry(file, "contexts", c.name);
  context.cluster = clusterName;
  if (c.token) {
    const userName = freeName(kc, "users", c.name);
    editEntry(file, "users", userName).token = c.token;
    context.user = userName;
  }
  if (c.namespace) context.namespace = c.namespace;
}

async function keepAside(from: string): Promise<string> {
  const keptAs = existsSync(`${from}.imported`) ? `${from}.imported-${Date.now()}` : `${from}.imported`;
  await rename(from, keptAs);
  return keptAs;
}

/**
 * Imports the old file's contexts into kubeconfig (those whose name kubeconfig has already are
 * left out: kubeconfig wins), its current context when kubeconfig has none, then renames the old
 * file to `<file>.imported`. Answers undefined when there is no old file. An old file that cannot
 * be read is a ConfigError saying how to migrate by hand.
 */
export async function importLegacyConfig(loc: KubeconfigLocation = {}): Promise<LegacyImport | undefined> {
  const from = legacyConfigPath(loc.env ?? process.env);
  if (!existsSync(from)) return undefined;
  return withLocks([from], async () => {
    // Another eictl may have imported it while this one waited for the lock.
    if (!existsSync(from)) return undefined;
    let old: ReturnType<typeof readLegacy>;
    try {
      old = readLegacy(await readFile(from, "utf8"));
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message.split("\n")[0];
      throw new ConfigError(
        `cannot import the old eictl config ${from} into kubeconfig: ${reason}; fix it, or move it away and re-create its contexts with 'eictl config set-context NAME --server URL --token TOKEN'`,
      );
    }
    const done = await editKubeconfig(loc, (kc) => {
      const imported: string[] = [];
      const skipped: string[] = [];
      for (const c of old.contexts) {
        if (kc.find("contexts", c.name)) skipped.push(c.name);
        else {
          addContext(kc, c, from);
          imported.push(c.name);
        }
      }
      if (!kc.currentContext && old.current && kc.find("contexts", old.current)) {
        const file = kc.currentContextDestination();
        file.doc["current-context"] = old.current;
        file.dirty = true;
      }
      return { imported, skipped, into: kc.destination().path };
    });
    return { from, keptAs: await keepAside(from), ...done };
  });
}

/** The one line an import prints (on stderr, so `-o json` output stays clean). */
export function legacyImportNotice(r: LegacyImport): string {
  const what = r.imported.length ? `imported the contexts ${r.imported.join(", ")} of the old config ${r.from} into the kubeconfig ${r.into}` : `found no new context in the old config ${r.from}`;
  const skipped = r.skipped.length ? `; left out ${r.skipped.join(", ")}: the kubeconfig has contexts of those names` : "";
  return `eictl: ${what} (the old file is kept as ${r.keptAs})${skipped}`;
}
