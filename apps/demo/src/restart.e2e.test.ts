// `npm run demo` as a user runs it — the demo's main as a child process on a data directory —
// stopped and started again on the same directory: every simulated node comes back Ready with the
// credential its agent kept (no bootstrap token is minted or spent the second time), and a
// bootstrap token cannot take over any of the demo's nodes.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { ApiRequestError, EiaasClient } from "@eiaas/client";
import { createTestDatabase, freePort, type TestDatabase } from "@eiaas/testing";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const NODES = 6;

let db: TestDatabase;
let dataDir: string;
let port: number;
const children: ChildProcess[] = [];

interface RunningDemo {
  child: ChildProcess;
  banner: string;
  exited: Promise<number | null>;
}

/** Starts the demo and waits for its banner (it prints it once the fleet and the objects are up). */
async function startDemo(): Promise<RunningDemo> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: db.url,
    EIAAS_DATA_DIR: dataDir,
    EIAAS_PORT: String(port),
    EIAAS_HOST: "127.0.0.1",
    EIAAS_DEMO_NODES: String(NODES),
    // The demo merges its context into the kubeconfig: this test's own, never the user's.
    KUBECONFIG: join(dataDir, "kube-config"),
    EIAAS_LOG_LEVEL: "warn",
  };
  // Queues on Postgres, as the demo's default: nothing of this test in a shared Redis.
  delete env.REDIS_URL;
  delete env.EIAAS_ADMIN_TOKEN;
  const child = spawn(process.execPath, ["--import", "tsx", "apps/demo/src/main.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const banner = await new Promise<string>((resolve, reject) => {
    const check = setInterval(() => {
      if (stdout.includes("Press Ctrl-C to stop.")) {
        clearInterval(check);
        resolve(stdout);
      }
    }, 100);
    void exited.then((code) => {
      clearInterval(check);
      reject(new Error(`the demo exited (${code}) before it was up: ${stderr}${stdout}`));
    });
  });
  return { child, banner, exited };
}

async function stopDemo(demo: RunningDemo): Promise<void> {
  demo.child.kill("SIGTERM");
  expect(await demo.exited).toBe(0);
}

function adminClient(banner: string): EiaasClient {
  const token = /admin token:\s+(\S+)/.exec(banner)?.[1];
  if (!token) throw new Error(`no admin token in the banner: ${banner}`);
  return new EiaasClient({ server: `https://127.0.0.1:${port}`, token, insecureSkipTlsVerify: true });
}

/** The demo's nodes once all are Ready (their uids by name). */
async function readyNodes(client: EiaasClient): Promise<Map<string, string>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const list = await client.list("edgenodes");
    const items = list.items as Array<{ metadata: { name: string; uid: string }; status?: { phase?: string } }>;
    if (items.length === NODES && items.every((n) => n.status?.phase === "Ready")) return new Map(items.map((n) => [n.metadata.name, n.metadata.uid]));
    if (Date.now() > deadline) throw new Error(`nodes not all Ready: ${JSON.stringify(items.map((n) => [n.metadata.name, n.status?.phase]))}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The credentials the demo's agents kept, by node. */
async function keptCredentials(): Promise<Map<string, string>> {
  const dir = join(dataDir, "agents");
  const out = new Map<string, string>();
  for (const f of (await readdir(dir)).filter((f) => f.endsWith(".json"))) out.set(f.replace(/\.json$/, ""), JSON.parse(await readFile(join(dir, f), "utf8")).token);
  return out;
}

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), "eiaas-demo-"));
  port = await freePort();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await db?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("the demo on its own data directory", () => {
  it("starts again after a stop: every node Ready with the credential its agent kept, no bootstrap token spent, none able to take a node", { timeout: 180_000 }, async () => {
    const first = await startDemo();
    expect(first.banner).toMatch(new RegExp(`fleet: +${NODES} simulated nodes \\(.*\\): ${NODES} registered anew, 0 renewed`));
    let client = adminClient(first.banner);
    const uids = await readyNodes(client);
    const kept = await keptCredentials();
    expect([...kept.keys()].sort()).toEqual([...uids.keys()].sort());
    // The bootstrap token the first run minted was revoked once its fleet was up.
    expect((await client.listBootstrapTokens()).items).toEqual([]);
    client.close();
    await stopDemo(first);

    const second = await startDemo();
    expect(second.banner).toMatch(new RegExp(`: 0 registered anew, ${NODES} renewed with their own credentials`));
    client = adminClient(second.banner);
    try {
      const again = await readyNodes(client);
      // The same nodes (not deleted and re-created), the same credentials, no bootstrap token minted.
      expect(again).toEqual(uids);
      expect(await keptCredentials()).toEqual(kept);
      expect((await client.listBootstrapTokens()).items).toEqual([]);

      // A bootstrap token, even one good for many registrations, cannot take any of them.
      const boot = await client.createBootstrapToken({ maxUses: 100 });
      const attacker = new EiaasClient({ server: `https://127.0.0.1:${port}`, token: boot.token!, insecureSkipTlsVerify: true });
      try {
        for (const name of uids.keys()) {
          const err = await attacker
            .request({ method: "POST", path: `${API_PREFIX}/edgenodes/${name}/register`, body: { spec: { tier: "cloud", capacity: { cpu: 1e6, memoryMiB: 1e7, gpu: 64 } } } })
            .then(
              () => undefined,
              (e: unknown) => e,
            );
          expect(err, name).toBeInstanceOf(ApiRequestError);
          expect((err as ApiRequestError).reason, name).toBe("AlreadyExists");
        }
      } finally {
        attacker.close();
      }
      expect((await client.listBootstrapTokens()).items[0]).toMatchObject({ maxUses: 100, uses: 0 });
      // Each node still answers to its own agent: Ready, and its credential still works.
      expect(await readyNodes(client)).toEqual(uids);
    } finally {
      client.close();
    }
    await stopDemo(second);
  });
});
