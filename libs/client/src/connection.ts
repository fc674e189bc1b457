/**
 * From kubeconfig and command-line flags to what EiaasClient needs: the chosen context's cluster
 * (server, how to trust it) and user (a bearer token), and its namespace. Cluster and user entries
 * are read by `@kubernetes/client-node`'s own kubeconfig parsers (the ones `KubeConfig` uses).
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
// The parsers alone: `KubeConfig` itself would load the whole generated API client (~1 s of CPU
// on every eictl call), and its merge of several files is not kubectl's (see kubeconfig.ts).
import { newClusters, newUsers, type Cluster, type User } from "@kubernetes/client-node/dist/config_types.js";
import { ConfigError } from "./errors.js";
import { Kubeconfig, type LocatedEntry } from "./kubeconfig.js";
import type { KubeconfigLocation } from "./kubeconfig-files.js";
import type { ConnectionOptions } from "./transport.js";

/** Command-line overrides of the context (eictl's global flags), field by field as kubectl's. */
export interface ConnectionFlags {
  server?: string;
  token?: string;
  namespace?: string;
  /** Use this context instead of the current one. */
  context?: string;
  /** A CA file for this invocation (overrides the cluster's). */
  certificateAuthority?: string;
  insecureSkipTlsVerify?: boolean;
}

/** A resolved connection: what EiaasClient needs, plus the namespace and where it came from. */
export interface ResolvedConnection extends ConnectionOptions {
  /** Namespace of namespaced commands: `-n`, else the context's, else `default` (as kubectl). */
  namespace: string;
  /** Whether the namespace was chosen explicitly (flag or context) rather than defaulted. */
  namespaceExplicit: boolean;
  /** The context used, if any. */
  context?: string;
  /** The kubeconfig files read, in precedence order. */
  kubeconfig: string[];
}

export interface ResolveOptions {
  flags?: ConnectionFlags;
  /** Which kubeconfig files (default: KUBECONFIG, else ~/.kube/config). */
  location?: KubeconfigLocation;
  /** An already loaded kubeconfig (skips reading the files). */
  kubeconfig?: Kubeconfig;
}

/**
 * A bearer token goes into the Authorization header as it is: whitespace or control characters
 * would break the header (or smuggle another one), so such a token is refused before any request.
 */
export function isHeaderSafeToken(token: string): boolean {
  return /^[\x21-\x7e]+$/.test(token);
}

/** A string field of a context, or a ConfigError naming it. */
function contextField(ctx: LocatedEntry, field: "cluster" | "user" | "namespace"): string | undefined {
  const v = ctx.body[field];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new ConfigError(`context "${ctx.name}" in ${ctx.file.path}: ${field} must be a string`);
  return v;
}

/** One entry through client-node's parser, its failure as one line naming the entry and file. */
function parsed<T>(what: "cluster" | "user", located: LocatedEntry, parse: (list: unknown[]) => T[]): T {
  try {
    return parse([located.entry])[0]!;
  } catch (err) {
    const reason = (err as Error).message.replace(/^\w+\[0\]\./, "");
    throw new ConfigError(`${what} "${located.name}" in ${located.file.path}: ${reason}`);
  }
}

function parseCluster(located: LocatedEntry): Cluster {
  const cluster = parsed("cluster", located, (l) => newClusters(l));
  // The transport speaks to the server directly with a CA or none: a setting it would ignore is
  // refused rather than silently dropped.
  if (cluster.proxyUrl) throw new ConfigError(`cluster "${located.name}" in ${located.file.path}: proxy-url is not supported by eictl`);
  if (cluster.tlsServerName) throw new ConfigError(`cluster "${located.name}" in ${located.file.path}: tls-server-name is not supported by eictl`);
  try {
    const url = new URL(cluster.server);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("scheme");
  } catch {
    throw new ConfigError(`cluster "${located.name}" in ${located.file.path}: invalid server URL "${cluster.server}": expected e.g. https://127.0.0.1:8443`);
  }
  return cluster;
}

/** The user's bearer token: `token`, else the file `token-file` names (relative to the kubeconfig). */
async function userToken(located: LocatedEntry, context: string): Promise<string> {
  // token-file is read here, not by client-node's parser, which reads it synchronously and fails
  // with a bare ENOENT.
  const { "token-file": tokenFile, ...rest } = located.body;
  const user: User = parsed("user", { ...located, entry: { name: located.name, user: rest } }, (l) => newUsers(l));
  const where = `user "${located.name}" in ${located.file.path}`;
  if (typeof user.token === "string" && user.token) return user.token;
  if (typeof tokenFile === "string" && tokenFile) {
    const file = resolve(dirname(located.file.path), tokenFile);
    const token = (
      await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError(`${where}: cannot read its token-file ${file}: ${err.code ?? err.message}`);
      })
    ).trim();
    if (!token) throw new ConfigError(`${where}: its token-file ${file} is empty`);
    return token;
  }
  const other = user.exec ? "an exec plugin" : user.authProvider ? "an auth-provider" : user.certData || user.certFile ? "a client certificate" : user.username ? "a username and password" : undefined;
  if (other) throw new ConfigError(`${where} signs in with ${other}, which eictl does not support: give it a token ('eictl config set-context ${context} --token TOKEN')`);
  throw new ConfigError(`${where} has no token: run 'eictl config set-context ${context} --token TOKEN', or pass --token`);
}

async function readCa(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read the certificate authority file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`the certificate authority file ${file} holds no PEM certificate`);
  return pem;
}

/** certificate-authority-data is base64 of the PEM. */
function decodeCaData(data: string, cluster: string): string {
  const pem = Buffer.from(data, "base64").toString("utf8");
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`cluster "${cluster}": certificate-authority-data holds no PEM certificate`);
  return pem;
}

/** The context chosen by `--context`, else the current one; absent only when flags must do. */
function chooseContext(kc: Kubeconfig, flags: ConnectionFlags): LocatedEntry | undefined {
  if (flags.context) {
    const ctx = kc.find("contexts", flags.context);
    if (!ctx) throw new ConfigError(`context "${flags.context}" not found in the kubeconfig (${kc.describe()}): see 'eictl config get-contexts'`);
    return ctx;
  }
  const current = kc.currentContext;
  if (!current) return undefined;
  const ctx = kc.find("contexts", current);
  if (!ctx && !flags.server) throw new ConfigError(`the current context "${current}" is not in the kubeconfig (${kc.describe()}): run 'eictl config use-context NAME'`);
  return ctx;
}

/**
 * Merges the flags over the chosen context (`--context`, else the current one). Flags win field by
 * field, as in kubectl. A missing piece (no context, a context without cluster or user, an entry it
 * names that is not there) is a ConfigError saying what to run.
 */
export async function resolveConnection(opts: ResolveOptions = {}): Promise<ResolvedConnection> {
  const flags = opts.flags ?? {};
  const kc = opts.kubeconfig ?? (await Kubeconfig.load(opts.location));
  if (kc.paths.explicit && !kc.files[0]!.exists) throw new ConfigError(`the kubeconfig file ${kc.files[0]!.path} (--kubeconfig) does not exist`);
  const ctx = chooseContext(kc, flags);
  const clusterName = ctx && contextField(ctx, "cluster");
  const clusterEntry = clusterName ? kc.find("clusters", clusterName) : undefined;
  if (ctx && clusterName && !clusterEntry && !flags.server) {
    throw new ConfigError(`context "${ctx.name}" names the cluster "${clusterName}", which is not in the kubeconfig (${kc.describe()})`);
  }
  const cluster = clusterEntry && parseCluster(clusterEntry);
  const server = flags.server ?? cluster?.server;
  if (!server) {
    if (ctx) throw new ConfigError(`context "${ctx.name}" has no cluster: run 'eictl config set-context ${ctx.name} --server URL', or pass --server`);
    throw new ConfigError(
      `no context is set in the kubeconfig (${kc.describe()}): run 'eictl config set-context NAME --server URL --token TOKEN' and 'eictl config use-context NAME', or pass --server and --token`,
    );
  }
  let token = flags.token;
  if (token === undefined && ctx) {
    const userName = contextField(ctx, "user");
    if (!userName) throw new ConfigError(`context "${ctx.name}" has no user: run 'eictl config set-context ${ctx.name} --token TOKEN', or pass --token`);
    const user = kc.find("users", userName);
    if (!user) throw new ConfigError(`context "${ctx.name}" names the user "${userName}", which is not in the kubeconfig (${kc.describe()})`);
    token = await userToken(user, ctx.name);
  }
  if (token !== undefined && token !== "" && !isHeaderSafeToken(token)) {
    throw new ConfigError(`the token of ${flags.token !== undefined ? "--token" : `context "${ctx!.name}"`} is not printable ASCII without spaces`);
  }
  const namespace = flags.namespace ?? (ctx && contextField(ctx, "namespace"));
  const out: ResolvedConnection = { server, namespace: namespace ?? "default", namespaceExplicit: namespace !== undefined, kubeconfig: kc.paths.files };
  if (token) out.token = token;
  if (ctx) out.context = ctx.name;
  // TLS trust: a flag replaces the cluster's setting; a different --server keeps the cluster's CA
  // only when the flag names none (a CA is per server, but the demo's CA is the common case).
  if (flags.insecureSkipTlsVerify) out.insecureSkipTlsVerify = true;
  else if (flags.certificateAuthority) out.caPem = await readCa(resolve(flags.certificateAuthority));
  else if (cluster?.skipTLSVerify) out.insecureSkipTlsVerify = true;
  else if (cluster?.caData) out.caPem = decodeCaData(cluster.caData, clusterEntry!.name);
  else if (cluster?.caFile) out.caPem = await readCa(resolve(dirname(clusterEntry!.file.path), cluster.caFile));
  return out;
}
