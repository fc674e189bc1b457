// Test-only: the API server over HTTPS on a real socket, with a kubeconfig that stock kubectl (as a
// child process) and @kubernetes/client-node (in-process) use unchanged.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import request from "supertest";
import { API_PREFIX } from "@eiaas/api";
import { ensureServingCertificate, writeKubeconfig } from "@eiaas/api-server";
import { startTestApi, type TestApi, type TestApiOverrides } from "./api-server.js";

const run = promisify(execFile);

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface KubeClients {
  api: TestApi;
  /** The HTTPS base URL. */
  url: string;
  /** A scratch directory (kubeconfigs, manifests). */
  dir: string;
  /** Runs kubectl as the admin (or with `token`'s kubeconfig), optionally with stdin. */
  kubectl(args: string[], opts?: { token?: string; stdin?: string; timeoutMs?: number; env?: Record<string, string> }): Promise<KubectlResult>;
  /**
   * Runs a kubectl that does not exit by itself (`get -w`) until its output satisfies `until`
   * (or `timeoutMs`, default 20 s, passes), then stops it; answers what it printed.
   */
  kubectlUntil(args: string[], until: (stdout: string) => boolean, opts?: { token?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** A client-node KubeConfig for the admin, or for `token`. */
  kubeConfig(token?: string): Promise<KubeConfig>;
  /** Writes a file into `dir` and returns its path. */
  file(name: string, text: string): Promise<string>;
  /** Creates a Tenant (a namespace) as the admin. */
  tenant(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startKubeClients(overrides: TestApiOverrides = {}): Promise<KubeClients> {
  const api = await startTestApi(overrides);
  const dir = await mkdtemp(join(tmpdir(), "eiaas-kube-clients-"));
  const tls = await ensureServingCertificate({ dataDir: dir });
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, api.app);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const configs = new Map<string, string>();
  const configFor = async (token: string, namespace = "acme"): Promise<string> => {
    let path = configs.get(token);
    if (!path) {
      path = join(dir, `kubeconfig-${configs.size}`);
      await writeKubeconfig(path, { server: url, caPem: tls.caPem, token, namespace });
      configs.set(token, path);
    }
    return path;
  };
  await configFor(api.adminToken);

  const kubectl: KubeClients["kubectl"] = async (args, opts = {}) => {
    const config = await configFor(opts.token ?? api.adminToken);
    const argv = ["--kubeconfig", config, "--cache-dir", join(dir, "cache"), ...args];
    if (opts.stdin === undefined) {
      try {
        const r = await run("kubectl", argv, { timeout: opts.timeoutMs ?? 20_000, env: { ...process.env, ...opts.env } });
        return { stdout: r.stdout, stderr: r.stderr, code: 0 };
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; code?: number };
        return { stdout: e.stdout ?? "", stderr: e.stderr ?? "", code: typeof e.code === "number" ? e.code : 1 };
      }
    }
    return new Promise((resolve) => {
      const child = spawn("kubectl", argv, { stdio: ["pipe", "pipe", "pipe"], timeout: opts.timeoutMs ?? 20_000, env: { ...process.env, ...opts.env } });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("close", (code) => resolve({ stdout, stderr, code: code ?? 1 }));
      child.stdin.end(opts.stdin);
    });
  };

  const kubectlUntil: KubeClients["kubectlUntil"] = async (args, until, opts = {}) => {
    const config = await configFor(opts.token ?? api.adminToken);
    const child = spawn("kubectl", ["--kubeconfig", config, "--cache-dir", join(dir, "cache"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill(), opts.timeoutMs ?? 20_000);
    child.stdout.on("data", (d) => {
      stdout += d;
      if (until(stdout)) child.kill();
    });
    child.stderr.on("data", (d) => (stderr += d));
    return new Promise((resolve) =>
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ stdout, stderr, code: code ?? 0 });
      }),
    );
  };

  return {
    api,
    url,
    dir,
    kubectl,
    kubectlUntil,
    kubeConfig: async (token) => {
      const kc = new KubeConfig();
      kc.loadFromFile(await configFor(token ?? api.adminToken));
      return kc;
    },
    file: async (name, text) => {
      const path = join(dir, name);
      await writeFile(path, text);
      return path;
    },
    tenant: async (name) => {
      await request(api.app)
        .post(`${API_PREFIX}/tenants`)
        .set({ Authorization: `Bearer ${api.adminToken}` })
        .send({ apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name } })
        .expect(201);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await api.close();
    },
  };
}
