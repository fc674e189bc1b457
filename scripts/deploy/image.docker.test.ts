// deploy/Dockerfile built by a real Docker engine (on the local Node base, NODE_IMAGE) and every
// entrypoint command run in it: help, eictl, and migrate → api-server → scheduler → agent against
// this run's Postgres and a private Redis, over the host's network, with a read-only root
// filesystem as the Helm chart runs them. Skipped, saying why, where no engine can be had.
import { get as httpsGet } from "node:https";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { docker, dockerAvailability, freePort, projectImage, run, startRedis, testImages, type RunningRedis } from "@eiaas/testing";

const engine = dockerAvailability();
const ID = `img${process.pid}`;

/** GET url (https without verifying the certificate): the status, or 0 when nothing answers. */
function status(url: string, headers: Record<string, string> = {}): Promise<{ code: number; body: string }> {
  if (url.startsWith("http:")) {
    return fetch(url, { headers }).then(
      async (r) => ({ code: r.status, body: await r.text() }),
      () => ({ code: 0, body: "" }),
    );
  }
  return new Promise((resolve) => {
    const req = httpsGet(url, { rejectUnauthorized: false, headers, timeout: 3000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ code: res.statusCode ?? 0, body }));
    });
    req.on("error", () => resolve({ code: 0, body: "" }));
    req.on("timeout", () => req.destroy());
  });
}

async function until<T>(check: () => Promise<T | undefined>, what: string, container: string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    const state = (await run("docker", ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", container])).stdout.trim();
    if (Date.now() > deadline || state.startsWith("exited")) {
      const logs = await run("docker", ["logs", "--tail", "30", container]);
      throw new Error(`${what}: not there (container ${state}); its last log lines:\n${logs.stdout}${logs.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.skipIf(!engine.available)("deploy/Dockerfile, built and run", () => {
  let image: string;
  let redis: RunningRedis;
  let databaseUrl: string;
  const database = `eiaas_image_${process.pid}`;
  const containers: string[] = [];

  beforeAll(async () => {
    image = await projectImage(await testImages());
    redis = await startRedis();
    const admin = new pg.Client({ connectionString: inject("postgresUrl") });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const u = new URL(inject("postgresUrl"));
    u.pathname = `/${database}`;
    databaseUrl = u.toString();
  }, 30 * 60_000);

  afterAll(async () => {
    if (containers.length) await run("docker", ["rm", "-f", ...containers]);
    await redis?.stop();
    const admin = new pg.Client({ connectionString: inject("postgresUrl") });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  /** docker run --rm IMAGE ARGS…, to completion. */
  const once = (...args: string[]) => run("docker", ["run", "--rm", image, ...args]);
  /** A long-running process of the image on the host's network, as the chart runs it: read-only root, writable /tmp and data dir. */
  const start = async (name: string, env: Record<string, string>, ...args: string[]) => {
    const container = `${ID}-${name}`;
    containers.push(container);
    const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    await docker("run", "-d", "--name", container, "--network", "host", "--read-only", "--tmpfs", "/tmp:mode=1777", "--tmpfs", "/var/lib/eiaas:uid=10001,gid=10001", ...envArgs, image, ...args);
    return container;
  };

  it("help lists every command; eictl and the agent answer --help and version (their node_modules are in the image)", { timeout: 180_000 }, async () => {
    const help = await once("help");
    expect(help.code).toBe(0);
    for (const c of ["api-server", "scheduler", "agent", "eictl", "migrate", "probe URL"]) expect(help.stdout).toContain(c);
    const version = await once("eictl", "version", "--client");
    expect(version.stderr).toBe("");
    expect(version.stdout).toMatch(/^Client Version: v\d+\.\d+\.\d+/);
    expect(version.code).toBe(0);
    const eictl = await once("eictl", "--help");
    expect(eictl.code).toBe(0);
    expect(eictl.stdout).toContain("Usage: eictl");
    const agent = await once("agent", "--help");
    expect(agent.code).toBe(0);
    expect(agent.stdout).toContain("usage: agent --node NAME");
  });

  it("runs as uid 10001 over root-owned sources, under tini", { timeout: 60_000 }, async () => {
    const r = await once("sh", "-c", "id -u; stat -c %U /app/apps/api-server/src/main.ts; cat /proc/1/comm; node --version");
    const [uid, owner, pid1, node] = r.stdout.trim().split("\n");
    expect({ uid, owner, pid1 }).toEqual({ uid: "10001", owner: "root", pid1: "tini" });
    expect(node).toMatch(/^v\d+\./);
  });

  it("migrate, api-server, scheduler and agent start, become ready and work together", { timeout: 10 * 60_000 }, async () => {
    const migrate = await run("docker", ["run", "--rm", "--network", "host", "-e", `DATABASE_URL=${databaseUrl}`, image, "migrate"]);
    expect(migrate.stderr).toBe("");
    expect(migrate.stdout).toMatch(/migrations: \d+ applied/);
    expect(migrate.code).toBe(0);

    const [apiPort, schedulerPort, agentPort] = [await freePort(), await freePort(), await freePort()];
    // The API server refuses an admin token under 32 characters.
    const admin = `admin-${ID}-0123456789abcdef0123456789abcdef`;
    const bootstrap = `bootstrap-${ID}-0123456789abcdef`;
    const api = await start(
      "api-server",
      { DATABASE_URL: databaseUrl, REDIS_URL: redis.url, EIAAS_PORT: String(apiPort), EIAAS_HOST: "127.0.0.1", EIAAS_ADMIN_TOKEN: admin, EIAAS_BOOTSTRAP_TOKEN: bootstrap },
      "api-server",
    );
    const base = `https://127.0.0.1:${apiPort}`;
    await until(async () => ((await status(`${base}/readyz`)).code === 200 ? true : undefined), "the API server ready", api);

    const scheduler = await start("scheduler", { DATABASE_URL: databaseUrl, REDIS_URL: redis.url, EIAAS_METRICS_PORT: String(schedulerPort) }, "scheduler");
    await until(async () => ((await status(`http://127.0.0.1:${schedulerPort}/readyz`)).code === 200 ? true : undefined), "the scheduler ready", scheduler);

    const node = `${ID}-edge`;
    const agent = await start(
      "agent",
      { EIAAS_BOOTSTRAP_TOKEN: bootstrap, EIAAS_METRICS_PORT: String(agentPort) },
      "agent",
      "--node",
      node,
      "--runtime",
      "simulated",
      "--server",
      base,
      "--insecure-skip-tls-verify",
      "--tier",
      "edge",
      "--cpu",
      "4000",
      "--memory-mib",
      "8192",
    );
    await until(async () => ((await status(`http://127.0.0.1:${agentPort}/readyz`)).code === 200 ? true : undefined), "the agent ready", agent);
    const registered = await status(`${base}/apis/eiaas.io/v1alpha1/edgenodes/${node}`, { Authorization: `Bearer ${admin}` });
    expect(registered.code).toBe(200);
    expect(JSON.parse(registered.body).spec.capacity).toMatchObject({ cpu: 4000, memoryMiB: 8192 });

    // eictl from the image against the API.
    const eictl = "/app/deploy/entrypoint.sh eictl";
    const script = `${eictl} config set-context it --server ${base} --token ${admin} --insecure-skip-tls-verify >/dev/null && ${eictl} config use-context it >/dev/null && ${eictl} get edgenodes`;
    const nodes = await run("docker", ["run", "--rm", "--network", "host", image, "sh", "-c", script]);
    expect(nodes.stderr).toBe("");
    expect(nodes.stdout).toContain(node);
  });
});
