/**
 * Changes to kubeconfig, as `kubectl config` makes them: each under the files' locks, re-read once
 * locked, a changed entry written back into the file it came from and a new one into the default
 * file (see {@link Kubeconfig.destination}). Only the fields named change; everything else in the
 * files (other entries, `extensions`, exec users, preferences) is written back as it was.
 */
import { existsSync } from "node:fs";
import { isHeaderSafeToken } from "./connection.js";
import { ConfigError } from "./errors.js";
import { Kubeconfig } from "./kubeconfig.js";
import { editEntry, removeEntry, withLocks, writeKubeconfigFile, type KubeconfigFile, type KubeconfigLocation } from "./kubeconfig-files.js";

/**
 * Runs `change` on the kubeconfig re-read under the locks of its existing files and of the file new
 * entries go to, then writes the files it changed.
 */
export async function editKubeconfig<T>(loc: KubeconfigLocation, change: (kc: Kubeconfig) => T): Promise<T> {
  const before = await Kubeconfig.load(loc);
  const locked = [...before.files.filter((f) => f.exists || existsSync(f.path)).map((f) => f.path), before.destination().path];
  return withLocks(locked, async () => {
    const kc = await Kubeconfig.load(loc);
    const result = change(kc);
    for (const f of kc.files) if (f.dirty) await writeKubeconfigFile(f);
    return result;
  });
}

/** What set-context may change; absent fields keep their value. */
export interface ContextUpdate {
  /** The context. */
  name: string;
  /** The cluster entry it uses (default: the one it uses already, else one named as the context). */
  cluster?: string;
  /** The user entry it uses (default: the one it uses already, else one named as the context). */
  user?: string;
  /** Default namespace; "" removes it. */
  namespace?: string;
  /** Server URL of its cluster. */
  server?: string;
  /** Bearer token of its user. */
  token?: string;
  /** Absolute path of a PEM file with the server's CA (certificate-authority). */
  certificateAuthority?: string;
  /** The CA inline: base64 of the PEM (certificate-authority-data). */
  certificateAuthorityData?: string;
  insecureSkipTlsVerify?: boolean;
}

function checkUpdate(u: ContextUpdate): void {
  if (!u.name.trim()) throw new ConfigError("a context needs a name");
  if (u.certificateAuthority !== undefined && u.certificateAuthorityData !== undefined) throw new ConfigError("give either a certificate authority file or its data, not both");
  if (u.insecureSkipTlsVerify && (u.certificateAuthority || u.certificateAuthorityData)) {
    throw new ConfigError("a certificate authority and --insecure-skip-tls-verify exclude each other: give one");
  }
  if (u.server !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(u.server);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) throw new ConfigError(`invalid server URL "${u.server}": expected e.g. https://127.0.0.1:8443`);
  }
  if (u.token !== undefined && !isHeaderSafeToken(u.token)) throw new ConfigError("invalid token: it must be printable ASCII without spaces");
}

/** The file holding entry `name` of a section, else the default file. */
function home(kc: Kubeconfig, section: "clusters" | "users" | "contexts", name: string): KubeconfigFile {
  return kc.find(section, name)?.file ?? kc.destination();
}

/** Sets the cluster fields of an update on the cluster entry `name`. */
function applyCluster(kc: Kubeconfig, name: string, u: ContextUpdate): void {
  const existing = kc.find("clusters", name);
  if (!existing && !u.server) throw new ConfigError(`cluster "${name}" does not exist yet: pass --server URL`);
  const cluster = editEntry(home(kc, "clusters", name), "clusters", name);
  if (u.server) cluster.server = u.server;
  const trust: Record<string, unknown> = {};
  if (u.certificateAuthority) trust["certificate-authority"] = u.certificateAuthority;
  if (u.certificateAuthorityData) trust["certificate-authority-data"] = u.certificateAuthorityData;
  if (u.insecureSkipTlsVerify) trust["insecure-skip-tls-verify"] = true;
  // The ways to trust a server exclude each other: setting one clears the others.
  if (Object.keys(trust).length) {
    for (const k of ["certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify"]) delete cluster[k];
    Object.assign(cluster, trust);
  }
}

/**
 * Adds a context or changes the given fields of an existing one, as `kubectl config set-context`
 * (with `--server`, the CA and `--token` also as `set-cluster` and `set-credentials` on the entries
 * the context uses; a cluster entry shared by other contexts changes for them too). A new context
 * needs a cluster. Answers whether the context was created.
 */
export async function setContext(loc: KubeconfigLocation, u: ContextUpdate): Promise<{ created: boolean }> {
  checkUpdate(u);
  return editKubeconfig(loc, (kc) => {
    const existing = kc.find("contexts", u.name);
    const setsCluster = u.server !== undefined || u.certificateAuthority !== undefined || u.certificateAuthorityData !== undefined || u.insecureSkipTlsVerify === true;
    const named = (field: "cluster" | "user") => (typeof existing?.body[field] === "string" && existing.body[field] ? (existing.body[field] as string) : undefined);
    const clusterName = u.cluster ?? named("cluster") ?? (setsCluster ? u.name : undefined);
    if (!clusterName) throw new ConfigError(`context "${u.name}" needs a cluster: pass --server URL (or --cluster NAME)`);
    const userName = u.user ?? named("user") ?? (u.token !== undefined ? u.name : undefined);
    if (setsCluster) applyCluster(kc, clusterName, u);
    if (u.token !== undefined) editEntry(home(kc, "users", userName!), "users", userName!).token = u.token;
    const context = editEntry(home(kc, "contexts", u.name), "contexts", u.name);
    context.cluster = clusterName;
    if (userName) context.user = userName;
    if (u.namespace === "") delete context.namespace;
    else if (u.namespace !== undefined) context.namespace = u.namespace;
    return { created: !existing };
  });
}

/** Makes `name` the current context (written where kubectl writes `current-context`). */
export async function useContext(loc: KubeconfigLocation, name: string): Promise<void> {
  await editKubeconfig(loc, (kc) => {
    if (!kc.find("contexts", name)) throw new ConfigError(`no context exists with the name: "${name}"`);
    const file = kc.currentContextDestination();
    file.doc["current-context"] = name;
    file.dirty = true;
  });
}

/**
 * Removes a context from the file it is in, leaving its cluster and user (as kubectl). Answers
 * that file and whether it was the current context (which, as kubectl, stays named).
 */
export async function deleteContext(loc: KubeconfigLocation, name: string): Promise<{ file: string; wasCurrent: boolean }> {
  return editKubeconfig(loc, (kc) => {
    const ctx = kc.find("contexts", name);
    if (!ctx) throw new ConfigError(`cannot delete context ${name}, not in ${kc.describe()}`);
    removeEntry(ctx.file, "contexts", name);
    return { file: ctx.file.path, wasCurrent: kc.currentContext === name };
  });
}

/** Encodes a PEM for certificate-authority-data. */
export function encodeCaData(pem: string): string {
  return Buffer.from(pem, "utf8").toString("base64");
}

export interface DemoContextOptions {
  /** URL the demo serves on, e.g. `https://127.0.0.1:8443`. */
  server: string;
  /** The demo's admin token. */
  token: string;
  /** PEM of the demo's CA, stored inline so the context works from any directory. Omit for plain http. */
  caPem?: string;
  /** Default namespace of the context. Default `demo`. */
  namespace?: string;
  /** The kubeconfig file to write. Default: where kubectl writes new entries (KUBECONFIG, ~/.kube/config). */
  configPath?: string;
  /** Where KUBECONFIG and HOME are read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Name of the context, its cluster and its user. Default `eiaas-demo`. */
  name?: string;
}

/**
 * Writes (or replaces) the demo's context, cluster and user and makes the context current, keeping
 * everything else, as `kind create cluster` does. Called by `npm run demo` once the server is up.
 * Answers the file the context is in and the context that was current before.
 */
export async function writeDemoContext(o: DemoContextOptions): Promise<{ path: string; previous?: string }> {
  const name = o.name ?? "eiaas-demo";
  const loc: KubeconfigLocation = { ...(o.configPath ? { explicitPath: o.configPath } : {}), ...(o.env ? { env: o.env } : {}) };
  return editKubeconfig(loc, (kc) => {
    const previous = kc.currentContext;
    const cluster = editEntry(home(kc, "clusters", name), "clusters", name);
    for (const k of Object.keys(cluster)) delete cluster[k];
    cluster.server = o.server;
    if (o.caPem) cluster["certificate-authority-data"] = encodeCaData(o.caPem);
    const user = editEntry(home(kc, "users", name), "users", name);
    for (const k of Object.keys(user)) delete user[k];
    user.token = o.token;
    const contextFile = home(kc, "contexts", name);
    const context = editEntry(contextFile, "contexts", name);
    for (const k of Object.keys(context)) delete context[k];
    Object.assign(context, { cluster: name, user: name, namespace: o.namespace ?? "demo" });
    const current = kc.currentContextDestination();
    current.doc["current-context"] = name;
    current.dirty = true;
    return { path: contextFile.path, ...(previous && previous !== name ? { previous } : {}) };
  });
}
