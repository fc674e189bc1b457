// deploy/docker-compose.yml brought up for real (Compose v1, the one Debian packages; v2 when the
// docker CLI has it): Postgres and Redis from local images built from Debian's packages, the
// project's image, migrations, the API, the scheduler and three simulated agents. An
// InferenceService that requests CPU and memory reaches Running on the compose agents; the
// scheduler shows tenant series to the scrape token only; a recreated agent renews its node with
// the credential in its state volume; `down -v` leaves nothing behind. Prints what each service
// used (docker stats), for docs/install.md.
import { randomBytes } from "node:crypto";
import { get as httpsGet, request as httpsRequest } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerAvailability, freePort, projectImage, run, testImages } from "@eiaas/testing";
import { COMPOSE_FILE } from "../testkit/compose.js";

const engine = dockerAvailability();
const PROJECT = `eiaas-e2e-${process.pid}`;
const V = "eiaas.io/v1alpha1";
const PREFIX = `/apis/${V}`;

/** `docker compose` (v2) when the CLI has it, else `docker-compose` (v1). */
async function composeCommand(): Promise<string[]> {
  return (await run("docker", ["compose", "version"])).code === 0 ? ["docker", "compose"] : ["docker-compose"];
}

describe.skipIf(!engine.available)("deploy/docker-compose.yml, up for real", () => {
  let compose: (...args: string[]) => ReturnType<typeof run>;
  let base: string;
  const admin = randomBytes(24).toString("hex");
  const scrape = randomBytes(24).toString("hex");

  /** One call to the API over HTTPS (the stack's own CA is not trusted here). */
  const api = (method: string, path: string, body?: unknown): Promise<{ code: number; body: any }> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = (method === "GET" ? httpsGet : httpsRequest)(
        `${base}${path}`,
        { method, rejectUnauthorized: false, headers: { Authorization: `Bearer ${admin}`, ...(data ? { "Content-Type": "application/json" } : {}) } },
        (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () => resolve({ code: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
        },
      );
      req.on("error", reject);
      req.end(data);
    });

  const until = async <T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 180_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await check();
        if (v !== undefined) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) {
        const ps = await compose("ps");
        const logs = await compose("logs", "--tail", "15");
        throw new Error(`timed out waiting for ${what} (${String(last ?? "")})\n${ps.stdout}\n${logs.stdout}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };

  beforeAll(async () => {
    const images = await testImages();
    const image = await projectImage(images);
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    const cmd = await composeCommand();
    const env = {
      ...process.env,
      EIAAS_IMAGE: image,
      POSTGRES_IMAGE: images.POSTGRES_IMAGE,
      REDIS_IMAGE: images.REDIS_IMAGE,
      EIAAS_ADMIN_TOKEN: admin,
      EIAAS_BOOTSTRAP_TOKEN: randomBytes(24).toString("hex"),
      EIAAS_METRICS_TOKEN: scrape,
      EIAAS_PORT: String(port),
    };
    compose = (...args: string[]) => run(cmd[0]!, [...cmd.slice(1), "-f", COMPOSE_FILE, "-p", PROJECT, ...args], { env });
    const up = await compose("up", "-d", "--no-build");
    if (up.code !== 0) throw new Error(`compose up failed (${up.code}):\n${up.stderr}\n${(await compose("logs", "--tail", "30")).stdout}`);
  }, 30 * 60_000);

  afterAll(async () => {
    // Whatever a failed test left: the stack, its volumes and network.
    await compose?.("down", "-v", "--remove-orphans");
  }, 120_000);

  it("refuses to start without an admin, bootstrap or scrape token (no guessable default), saying how long each must be", { timeout: 120_000 }, async () => {
    const cmd = await composeCommand();
    const given = { EIAAS_ADMIN_TOKEN: admin, EIAAS_BOOTSTRAP_TOKEN: randomBytes(24).toString("hex"), EIAAS_METRICS_TOKEN: scrape };
    const ok = await run(cmd[0]!, [...cmd.slice(1), "-f", COMPOSE_FILE, "-p", `${PROJECT}-x`, "config", "-q"], { env: { ...process.env, ...given } });
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    const chars = { EIAAS_ADMIN_TOKEN: 32, EIAAS_BOOTSTRAP_TOKEN: 16, EIAAS_METRICS_TOKEN: 32 };
    for (const [key, n] of Object.entries(chars)) {
      const r = await run(cmd[0]!, [...cmd.slice(1), "-f", COMPOSE_FILE, "-p", `${PROJECT}-x`, "config", "-q"], { env: { ...process.env, ...given, [key]: "" } });
      expect(r.code, key).not.toBe(0);
      expect(r.stderr, key).toContain(`set ${key} (at least ${n} characters)`);
    }
  });

  it("the agents register and are Ready; they hold the API's CA certificate and nothing else of its data", { timeout: 300_000 }, async () => {
    const nodes = await until(async () => {
      const r = await api("GET", `${PREFIX}/edgenodes`);
      const ready = (r.body?.items ?? []).filter((n: any) => n.status?.phase === "Ready");
      return ready.length === 3 ? ready : undefined;
    }, "three Ready EdgeNodes");
    expect(nodes.map((n: any) => [n.metadata.name, n.spec.tier]).sort()).toEqual([
      ["camera-1", "device"],
      ["edge-1", "edge"],
      ["edge-2", "edge"],
    ]);
    expect(nodes.find((n: any) => n.metadata.name === "edge-1").spec.capacity).toMatchObject({ cpu: 16000, memoryMiB: 65536 });
    const files = await compose("exec", "-T", "agent-1", "sh", "-c", "ls -A /etc/eiaas/ca; ls /var/lib/eiaas/pki 2>&1 || true");
    expect(files.stdout.trim().split("\n")[0]).toBe("ca.crt");
    expect(files.stdout).not.toMatch(/ca\.key|tls\.key/);
  });

  it("an InferenceService that requests CPU and memory reaches Running on the compose agents", { timeout: 300_000 }, async () => {
    expect((await api("POST", `${PREFIX}/tenants`, { apiVersion: V, kind: "Tenant", metadata: { name: "e2e" }, spec: { quota: { cpu: 8000, memoryMiB: 16384, gpu: 0, tasks: 10 } } })).code).toBe(201);
    const model = {
      apiVersion: V,
      kind: "Model",
      metadata: { name: "tiny" },
      spec: {
        inputBytes: 600000,
        accuracy: 0.8,
        layers: [
          { name: "l1", flops: 4e8, outputBytes: 800000, memoryMiB: 1 },
          { name: "l2", flops: 1e8, outputBytes: 200000, memoryMiB: 1 },
          { name: "l3", flops: 2.5e8, outputBytes: 4000, memoryMiB: 1 },
        ],
      },
    };
    expect((await api("POST", `${PREFIX}/namespaces/e2e/models`, model)).code).toBe(201);
    const isvc = {
      apiVersion: V,
      kind: "InferenceService",
      metadata: { name: "cam" },
      spec: { model: "tiny", clients: { selector: { matchLabels: { hardware: "jetson-nano" } }, requestsPerSecond: 1 }, architecture: "edge", resources: { cpu: 1000, memoryMiB: 2048 } },
    };
    expect((await api("POST", `${PREFIX}/namespaces/e2e/inferenceservices`, isvc)).code).toBe(201);
    const svc = await until(async () => {
      const r = await api("GET", `${PREFIX}/namespaces/e2e/inferenceservices/cam`);
      return r.body?.status?.phase === "Running" ? r.body : undefined;
    }, "the InferenceService Running");
    const tasks = (await api("GET", `${PREFIX}/namespaces/e2e/tasks?labelSelector=eiaas.io/workload=cam`)).body.items;
    expect(tasks.length).toBeGreaterThan(0);
    for (const t of tasks) {
      expect(["edge-1", "edge-2"]).toContain(t.spec.nodeName);
      // What the service asked for, plus the model's weights for its layers.
      expect(t.spec.resources.cpu).toBe(1000);
      expect(t.spec.resources.memoryMiB).toBeGreaterThanOrEqual(2048);
      expect(t.status.phase).toBe("Running");
    }
    expect(svc.status.plan.clients.map((c: any) => c.client)).toEqual(["camera-1"]);
    const stats = await run("docker", ["stats", "--no-stream", "--format", "{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}"]);
    console.log(
      `resources of the compose stack (docker stats):\n${stats.stdout
        .split("\n")
        .filter((l) => l.startsWith(PROJECT))
        .join("\n")}`,
    );
  });

  it("the scheduler serves the series that name tenants to the scrape token only", { timeout: 120_000 }, async () => {
    // Inside the scheduler's container (its metrics port is not published), with the token compose gave it.
    const scrapeWith = (auth: string) =>
      compose("exec", "-T", "scheduler", "node", "-e", `fetch("http://127.0.0.1:9090/metrics", { headers: ${auth} }).then(async (r) => console.log(r.status + "\\n" + (await r.text())))`);
    const withToken = await until(async () => {
      const r = await scrapeWith(`{ authorization: "Bearer " + process.env.EIAAS_METRICS_TOKEN }`);
      return /^eiaas_tenant_quota\{[^}]*tenant="e2e"/m.test(r.stdout) ? r.stdout : undefined;
    }, "the e2e tenant's series on the scheduler's /metrics");
    expect(withToken.split("\n")[0]).toBe("200");
    const without = await scrapeWith("{}");
    expect(without.stdout.split("\n")[0]).toBe("200");
    expect(without.stdout).toContain("# TYPE ");
    expect(without.stdout).not.toMatch(/tenant="e2e"/);
  });

  it("a recreated agent container renews its node with the credential kept in its state volume", { timeout: 300_000 }, async () => {
    const kept = await compose("exec", "-T", "agent-1", "sh", "-c", "stat -c '%a %u' /var/lib/eiaas/agents /var/lib/eiaas/agents/edge-1.json");
    expect(kept.stdout.trim().split("\n")).toEqual(["700 10001", "600 10001"]);
    const before = (await api("GET", `${PREFIX}/edgenodes/edge-1`)).body;
    const oldContainer = (await compose("ps", "-q", "agent-1")).stdout.trim();
    const up = await compose("up", "-d", "--no-deps", "--force-recreate", "agent-1");
    expect(up.code, up.stderr).toBe(0);
    expect((await compose("ps", "-q", "agent-1")).stdout.trim()).not.toBe(oldContainer);
    // The agent serves /readyz only once registered: with the bootstrap token alone it could not
    // take edge-1 back (a bootstrap token registers new nodes only) and would exit.
    await until(async () => {
      const r = await compose("exec", "-T", "agent-1", "/app/deploy/entrypoint.sh", "probe", "http://127.0.0.1:9090/readyz");
      return r.code === 0 ? true : undefined;
    }, "the recreated agent-1 ready");
    const logs = await compose("logs", "--no-color", "agent-1");
    expect(logs.stdout).toContain("agent registered and consuming its queue");
    expect(logs.stdout).not.toContain("already exists");
    const after = await until(async () => {
      const n = (await api("GET", `${PREFIX}/edgenodes/edge-1`)).body;
      return n?.status?.phase === "Ready" ? n : undefined;
    }, "edge-1 Ready again");
    expect(after.metadata.uid).toBe(before.metadata.uid);
  });

  it("`down -v` removes its containers, volumes and network", { timeout: 120_000 }, async () => {
    const down = await compose("down", "-v");
    expect(down.code).toBe(0);
    const label = `label=com.docker.compose.project=${PROJECT}`;
    expect((await run("docker", ["ps", "-aq", "--filter", label])).stdout.trim()).toBe("");
    expect((await run("docker", ["volume", "ls", "-q", "--filter", label])).stdout.trim()).toBe("");
    expect((await run("docker", ["network", "ls", "-q", "--filter", label])).stdout.trim()).toBe("");
  });
});
