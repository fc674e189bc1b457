// `npm run demo` as the README runs it, from a repository in a directory others cannot enter (as
// root clones into its own mode-700 home in containers and VMs): it starts (as root, the cluster
// kept where the postgres OS user reaches it, linked from .eiaas/postgres), listens on loopback
// only, and its /metrics names no tenant without a token. The demo process as a child, with its
// own embedded PostgreSQL.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, lstatSync, readFileSync, realpathSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, randomInput } from "@eiaas/testing";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const asRoot = process.getuid?.() === 0;

let top: string;
let dataDir: string;
let shared: string;
let port: number;
let demo: ChildProcess;
let printed = "";

/** GET over HTTPS with the demo's CA; the status and body. */
function get(path: string, token?: string): Promise<{ status: number; body: string }> {
  const ca = readFileSync(join(dataDir, "pki", "ca.crt"), "utf8");
  return new Promise((resolve, reject) => {
    const req = https.get({ host: "127.0.0.1", port, path, ca, headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
  });
}

/** The local addresses (hex, as /proc/net/tcp{,6} print them) of the sockets listening on `port`. */
function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== "0A" || !local) continue;
      const [address, hexPort] = local.split(":");
      if (parseInt(hexPort!, 16) === port) out.push(address!);
    }
  }
  return out;
}

beforeAll(async () => {
  top = await mkdtemp(join(tmpdir(), "eiaas-demo-home-"));
  await chmod(top, 0o700);
  dataDir = join(top, "repo", ".eiaas");
  await mkdir(join(top, "repo"), { recursive: true });
  shared = join(await mkdtemp(join(tmpdir(), "eiaas-demo-shared-")), "var-lib-eiaas");
  await chmod(join(shared, ".."), 0o755);
  port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    EIAAS_DATA_DIR: dataDir,
    EIAAS_EMBEDDED_PG_SHARED_DIR: shared,
    // The demo merges its context into the kubeconfig: this test's own, never the user's.
    KUBECONFIG: join(top, "kube-config"),
    EIAAS_PORT: String(port),
    // 1 cloud, 1 edge, 4 devices: two of them hold data, the federated job's participants.min.
    EIAAS_DEMO_NODES: "6",
  };
  for (const name of ["DATABASE_URL", "REDIS_URL", "EIAAS_HOST", "EIAAS_ADMIN_TOKEN", "EIAAS_METRICS_TOKEN"]) delete env[name];
  demo = spawn(process.execPath, ["--import", "tsx", "apps/demo/src/main.ts"], { cwd: join(ROOT), env, stdio: ["ignore", "pipe", "pipe"] });
  demo.stdout!.on("data", (c) => (printed += c));
  demo.stderr!.on("data", (c) => (printed += c));
  await new Promise<void>((resolve, reject) => {
    const check = () => (printed.includes("Press Ctrl-C to stop.") ? resolve() : undefined);
    demo.stdout!.on("data", check);
    demo.once("exit", (code) => reject(new Error(`the demo exited (${code}): ${printed}`)));
  });
}, 180_000);

afterAll(async () => {
  if (demo && demo.exitCode === null) {
    demo.kill("SIGKILL");
    await new Promise((r) => demo.once("exit", r));
  }
  await rm(top, { recursive: true, force: true });
  await rm(join(shared, ".."), { recursive: true, force: true });
});

describe("npm run demo from a directory others cannot enter", () => {
  it("starts, on loopback only, with its cluster where the postgres user reaches it", async () => {
    expect(printed).toContain(`API:          https://127.0.0.1:${port}`);
    expect(listeningAddresses(port).length).toBeGreaterThan(0);
    // 127.0.0.1 only (IPv4 0100007F), never the wildcard.
    for (const a of listeningAddresses(port)) expect(a).toBe("0100007F");
    const database = /database: +embedded PostgreSQL in (\S+)/.exec(printed)?.[1];
    if (asRoot) {
      expect(database?.startsWith(join(shared, "clusters"))).toBe(true);
      expect(lstatSync(join(dataDir, "postgres")).isSymbolicLink()).toBe(true);
      expect(realpathSync(join(dataDir, "postgres"))).toBe(database);
    } else {
      expect(database).toBe(join(dataDir, "postgres"));
    }
    expect((await get("/readyz")).status).toBe(200);
  });

  it("names no tenant on /metrics without a token, and every series with the admin token", async () => {
    const open = await get("/metrics");
    expect(open.status).toBe(200);
    expect(open.body).toContain("eiaas_api_request_duration_seconds");
    expect(open.body).not.toContain("eiaas_tenant_usage");
    const token = /admin token: +(\S+)/.exec(printed)![1]!;
    const full = await get("/metrics", token);
    expect(full.body).toMatch(/^eiaas_tenant_usage\{tenant="demo",resource="cpu"\} /m);
  });

  it("merges its context into the kubeconfig and makes it current: eictl reaches the demo with no setup", () => {
    const kubeconfig = join(top, "kube-config");
    expect(printed).toContain(`kubeconfig:   context "eiaas-demo" in ${kubeconfig}, now current;`);
    const r = spawnSync(process.execPath, ["--import", "tsx", "apps/eictl/src/main.ts", "get", "isvc", "-o", "name"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, KUBECONFIG: kubeconfig, EIAAS_CONFIG: join(top, "no-old-eictl-config") },
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("inferenceservice.eiaas.io/camera-classifier\n");
  }, 90_000);

  it("trains its federated job for real: the job's status shows the loss falling round by round", async () => {
    const token = /admin token: +(\S+)/.exec(printed)![1]!;
    const path = "/apis/eiaas.io/v1alpha1/namespaces/demo/trainingjobs/federated-mobilenet";
    let job: any;
    const deadline = Date.now() + 150_000;
    for (;;) {
      job = JSON.parse((await get(path, token)).body);
      if ((job.status?.training?.history?.length ?? 0) >= 5) break;
      if (Date.now() > deadline) throw new Error(`no 5 rounds of training: ${JSON.stringify(job.status)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const h: any[] = job.status.training.history;
    expect(h[h.length - 1].loss).toBeLessThan(h[0].loss);
    expect(h[h.length - 1].accuracy).toBeGreaterThan(0.1);
    expect(job.status.training.bytesUp).toBeGreaterThan(0);
  }, 180_000);

  it("serves camera-classifier for real: a device's entry endpoint answers resnet18's logits with timings", async () => {
    const token = /admin token: +(\S+)/.exec(printed)![1]!;
    const model = JSON.parse((await get("/apis/eiaas.io/v1alpha1/namespaces/demo/models/resnet18", token)).body);
    expect(model.metadata.annotations["eiaas.io/weights"]).toMatch(/^seeded random/);
    expect(model.status.artifact).toMatchObject({ format: "onnx", sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // The device's entry point in its plan, as a client finds it (the discovery API).
    const path = "/apis/eiaas.io/v1alpha1/namespaces/demo/inferenceservices/camera-classifier/endpoints?client=device-01";
    let entry: any;
    const deadline = Date.now() + 240_000;
    for (;;) {
      const r = await get(path, token);
      entry = r.status === 200 ? JSON.parse(r.body).items.find((e: any) => e.entry && e.address) : undefined;
      if (entry) break;
      if (Date.now() > deadline) throw new Error(`no entry endpoint for device-01: ${r.body}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const [host, port] = entry.address.split(":");
    const input = Buffer.from(randomInput(3 * 224 * 224, 3).buffer);
    const answer = await new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      const req = http.request(
        { host, port: Number(port), path: "/v1/infer", method: "POST", headers: { "content-type": "application/octet-stream", "x-eiaas-shape": "1,3,224,224", "content-length": input.length } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        },
      );
      req.on("error", reject);
      req.end(input);
    });
    expect(answer.status, answer.body.toString()).toBe(200);
    expect(answer.headers["x-eiaas-shape"]).toBe("1,1000");
    const logits = new Float32Array(answer.body.buffer, answer.body.byteOffset, answer.body.length / 4);
    expect(logits.length).toBe(1000);
    expect(logits.every(Number.isFinite)).toBe(true);
    const timings = JSON.parse(answer.headers["x-eiaas-timings"] as string);
    expect(timings).toMatchObject({ node: entry.node, layers: { from: 1 }, runMs: expect.any(Number), totalMs: expect.any(Number) });
  }, 300_000);

  it("stops on SIGTERM with exit code 0", async () => {
    const exited = new Promise<number | null>((r) => demo.once("exit", (code) => r(code)));
    demo.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 60_000);
});
