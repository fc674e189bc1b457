/**
 * kubeconfig files for stock kubectl (and any client-go program) against the eiaas API server.
 */
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { stringify } from "yaml";

export interface KubeconfigOptions {
  /** API server URL, e.g. `https://127.0.0.1:8443`. */
  server: string;
  /** PEM of the CA that signed the serving certificate; omitted when the chain is publicly trusted. */
  caPem?: string;
  /** Bearer token of the user. */
  token: string;
  /** Default namespace of the context (a tenant). */
  namespace?: string;
  /** Name of the cluster, user and context entries (default `eiaas`). */
  contextName?: string;
  /** User entry name (default `<contextName>-admin` when no namespace, else `<contextName>-<namespace>`). */
  userName?: string;
}

/**
 * Renders a kubeconfig (`apiVersion: v1`, `kind: Config`) with one cluster, user and context, the
 * context selected as `current-context`. The CA goes in inline as `certificate-authority-data`
 * (base64 of the PEM, as kubectl expects) so the file is self-contained.
 */
export function renderKubeconfig(opts: KubeconfigOptions): string {
  const name = opts.contextName ?? "eiaas";
  const user = opts.userName ?? `${name}-${opts.namespace ?? "admin"}`;
  const cluster: Record<string, string> = { server: opts.server };
  if (opts.caPem) cluster["certificate-authority-data"] = Buffer.from(opts.caPem, "utf8").toString("base64");
  const context: Record<string, string> = { cluster: name, user };
  if (opts.namespace) context.namespace = opts.namespace;
  const config = {
    apiVersion: "v1",
    kind: "Config",
    preferences: {},
    clusters: [{ name, cluster }],
    users: [{ name: user, user: { token: opts.token } }],
    contexts: [{ name, context }],
    "current-context": name,
  };
  return stringify(config, { lineWidth: 0 });
}

/**
 * Writes {@link renderKubeconfig}'s output to `path` with mode 0600 (it holds a bearer token),
 * creating the directory and replacing any previous file atomically.
 */
export async function writeKubeconfig(path: string, opts: KubeconfigOptions): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, renderKubeconfig(opts), { mode: 0o600 });
  // writeFile's mode is filtered by the umask and ignored for an existing file: force it.
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}
