import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dnsSubdomain } from "@eiaas/api";
import { z } from "zod";

/**
 * What a node's agent keeps to prove who it is after a restart: the agent token the API issued to
 * its node (kubelet's client certificate). With it the agent renews its registration — which also
 * hands it fresh credentials for its queue — instead of spending a bootstrap token, which may only
 * create nodes that do not exist.
 */
export interface AgentCredential {
  /** The API server that issued the token: it is never sent to another. */
  server: string;
  nodeName: string;
  token: string;
}

/** Where agents keep their credentials (a file per node under a state directory). */
export interface CredentialStore {
  /** The node's credential issued by `server`, or undefined when there is none. */
  load(nodeName: string, server: string): Promise<AgentCredential | undefined>;
  save(credential: AgentCredential): Promise<void>;
  /** Throws, naming the path, when a credential could not be saved (checked before registering). */
  assertWritable(): Promise<void>;
  /** Where the node's credential is kept (for messages). */
  locate(nodeName: string): string;
}

const credentialFile = z.object({
  apiVersion: z.literal("eiaas.io/v1alpha1"),
  kind: z.literal("AgentCredential"),
  server: z.string(),
  nodeName: z.string(),
  token: z.string().min(1),
});

/**
 * Credentials as `<dir>/<node>.json`, mode 0600 in a directory of mode 0700: only the agent's user
 * reads them. Written to a temporary file and renamed, so a crash never leaves half a credential.
 */
export class FileCredentialStore implements CredentialStore {
  /**
   * @param issuer Who issued the credentials kept here, stored with each and matched at load.
   * Default: the URL of the API server the agent connects to, so a token is never sent to
   * another server. The demo's in-process fleet names its own control plane instead (its data
   * directory holds both), so a changed EIAAS_PORT does not orphan its nodes.
   */
  constructor(
    readonly dir: string,
    private readonly issuer?: string,
  ) {}

  locate(nodeName: string): string {
    // Node names are RFC 1123 subdomains: no '/', no "..", so never a path outside the directory.
    if (!dnsSubdomain.safeParse(nodeName).success) throw new Error(`invalid node name ${JSON.stringify(nodeName)}`);
    return join(this.dir, `${nodeName}.json`);
  }

  async load(nodeName: string, server: string): Promise<AgentCredential | undefined> {
    let text: string;
    try {
      text = await readFile(this.locate(nodeName), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    let parsed;
    try {
      parsed = credentialFile.safeParse(JSON.parse(text));
    } catch {
      return undefined;
    }
    if (!parsed.success || parsed.data.nodeName !== nodeName || parsed.data.server !== (this.issuer ?? server)) return undefined;
    return { server: parsed.data.server, nodeName, token: parsed.data.token };
  }

  async save(c: AgentCredential): Promise<void> {
    await this.ensureDir();
    const path = this.locate(c.nodeName);
    const tmp = `${path}.${process.pid}.tmp`;
    const body = { apiVersion: "eiaas.io/v1alpha1", kind: "AgentCredential", server: this.issuer ?? c.server, nodeName: c.nodeName, token: c.token };
    await writeFile(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  }

  async assertWritable(): Promise<void> {
    const probe = join(this.dir, `.write-check.${process.pid}`);
    try {
      await this.ensureDir();
      await writeFile(probe, "", { mode: 0o600 });
      await rm(probe, { force: true });
    } catch (err) {
      throw new Error(`cannot keep the node credential in ${this.dir} (${(err as Error).message}); choose another --state-dir`);
    }
  }

  private async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }
}
