// `npm run bench:api`: API latency and throughput on this machine, beside the raw Postgres rates
// measured in the same run. The API server runs as its own process (HTTPS, embedded PostgreSQL).
// The GETs are driven by wrk when it is installed (`apt-get install wrk`): a C load generator with
// one thread leaves the server the machine's other core, where autocannon in this Node process
// costs about as much CPU as the server it measures. Creates (unique bodies) use autocannon.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import pg from "pg";
import { applyMigrations, ensureDatabase, freePort, startEmbeddedPostgres } from "@eiaas/db";

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const dir = await mkdtemp(join(tmpdir(), "eiaas-bench-api-"));
// Its own temp dir: as root, initdb runs as the postgres user and must own the directory.
const pgDir = await mkdtemp(join(tmpdir(), "eiaas-bench-pg-"));
const pgServer = await startEmbeddedPostgres({ dataDir: pgDir, port: await freePort(), persistent: false });
await ensureDatabase(pgServer.url(), "eiaas");
const databaseUrl = pgServer.url("eiaas");
await applyMigrations(databaseUrl);

/** Raw Postgres on the same server: what the API's own queries are bounded by. */
async function rawPostgres(): Promise<{ selectsPerSec: number; insertsPerSec: number }> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  await pool.query("CREATE TABLE bench_raw (id serial PRIMARY KEY, name text UNIQUE, body jsonb)");
  await pool.query("INSERT INTO bench_raw (name, body) SELECT 'n' || g, '{}' FROM generate_series(1, 1000) g");
  const run = async (n: number, concurrency: number, op: (i: number) => Promise<unknown>) => {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) await op(next++);
      }),
    );
    return n / ((performance.now() - t0) / 1000);
  };
  const selectsPerSec = await run(20_000, 100, (i) => pool.query("SELECT * FROM bench_raw WHERE name = $1", [`n${(i % 1000) + 1}`]));
  const insertsPerSec = await run(5_000, 10, (i) => pool.query("INSERT INTO bench_raw (name, body) VALUES ($1, $2)", [`x${i}`, { i }]));
  await pool.end();
  return { selectsPerSec, insertsPerSec };
}

const port = await freePort();
const token = "bench-admin-token-0123456789abcdef";
const server = spawn(process.execPath, [...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), "--import", "tsx", "apps/api-server/src/main.ts"], {
  env: { ...process.env, DATABASE_URL: databaseUrl, EIAAS_PORT: String(port), EIAAS_HOST: "127.0.0.1", EIAAS_ADMIN_TOKEN: token, EIAAS_DATA_DIR: join(dir, "data"), EIAAS_LOG_LEVEL: "warn" },
  stdio: ["ignore", "inherit", "inherit"],
});
const base = `https://127.0.0.1:${port}`;
const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

async function until(fn: () => Promise<boolean>) {
  for (let i = 0; i < 300; i++) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("API server did not become ready");
}
const tlsOptions = { rejectUnauthorized: false };
const https = await import("node:https");
const call = (method: string, path: string, body?: unknown) =>
  new Promise<number>((resolve, reject) => {
    const req = https.request(`${base}${path}`, { method, headers, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
await until(async () => (await call("GET", "/readyz")) === 200);

const ns = "bench";
// The create run makes thousands of models: past the server's default object-count cap, so the
// tenant sets its own.
await call("POST", "/apis/eiaas.io/v1alpha1/tenants", { apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name: ns }, spec: { quota: { "count/models": 1_000_000 } } });
const model = (name: string) => ({
  apiVersion: "eiaas.io/v1alpha1",
  kind: "Model",
  metadata: { name, namespace: ns, labels: { bench: "yes" } },
  spec: { inputBytes: 602112, accuracy: 0.7, layers: Array.from({ length: 10 }, (_, i) => ({ name: `l${i}`, flops: 1e8, outputBytes: 100_000, memoryMiB: 1 })) },
});
await call("POST", `/apis/eiaas.io/v1alpha1/namespaces/${ns}/models`, model("target"));

interface LoadResult {
  p50: number;
  p99: number;
  rps: number;
  errors: number;
  ok: number;
  tool: string;
}

const hasWrk = process.env.BENCH_LOADGEN !== "autocannon" && spawnSync("wrk", ["--version"]).error === undefined;

/** wrk's latency figures are printed with their unit (us, ms, s). */
function wrkMs(text: string, label: string): number {
  const m = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(text);
  if (!m) throw new Error(`wrk printed no ${label} latency:\n${text}`);
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}

async function load(opts: { url: string; headers?: Record<string, string>; connections: number; duration: number }): Promise<LoadResult> {
  if (!hasWrk) {
    const r = await cannon(opts);
    return { p50: r.latency.p50, p99: r.latency.p99, rps: r.requests.average, errors: r.non2xx + r.errors, ok: r.requests.total - r.non2xx - r.errors, tool: "autocannon" };
  }
  const args = ["-t1", `-c${opts.connections}`, `-d${opts.duration}s`, "--latency", ...Object.entries(opts.headers ?? {}).flatMap(([k, v]) => ["-H", `${k}: ${v}`]), opts.url];
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn("wrk", args, { stdio: ["ignore", "pipe", "inherit"] });
    let text = "";
    p.stdout.on("data", (d) => (text += d));
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}:\n${text}`))));
  });
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { p50: wrkMs(out, "50%"), p99: wrkMs(out, "99%"), rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), errors, ok: total - non2xx, tool: "wrk" };
}

function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ ...opts, tlsOptions } as autocannon.Options, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/**
 * CPU time (ms) a process and, with `children`, its live children and reaped ones have used, from
 * /proc: per request, it tells a change of cost apart from a machine that was merely busier
 * during one run (throughput and latency move with other load; CPU per request barely does).
 */
function cpuMs(pid: number, children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
    let sum = (ticks * 1000) / CLK_TCK;
    if (children) {
      for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean)) sum += cpuMs(Number(child));
    }
    return sum;
  } catch {
    return 0; // not Linux, or the process is gone: the figures below then read 0
  }
}
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
const postmasterPid = Number(readFileSync(join(pgDir, "postmaster.pid"), "utf8").split("\n")[0]);
/** Runs `fn` and returns its result with the API server's and Postgres' CPU µs per request. */
async function measured<T extends { ok: number }>(fn: () => Promise<T>): Promise<T & { apiCpuUs: number; pgCpuUs: number }> {
  const api0 = cpuMs(server.pid!),
    pg0 = cpuMs(postmasterPid, true);
  const r = await fn();
  const per = (ms: number) => (r.ok > 0 ? (ms * 1000) / r.ok : 0);
  return { ...r, apiCpuUs: per(cpuMs(server.pid!) - api0), pgCpuUs: per(cpuMs(postmasterPid, true) - pg0) };
}

const raw = await rawPostgres();
// Warm-up (JIT, pools, TLS sessions) then measure.
const getHeaders = { authorization: headers.authorization };
await load({ url: `${base}/apis/eiaas.io/v1alpha1/namespaces/${ns}/models/target`, headers: getHeaders, connections: 20, duration: 2 });
// The router's own ceiling on this machine: HTTPS + Express with no auth and no database.
const livez = await load({ url: `${base}/livez`, connections: 100, duration: Math.max(3, Math.round(DURATION_S / 2)) });
// A consistent GET (served from the watch cache after a shared read of the change log).
const get = await measured(() => load({ url: `${base}/apis/eiaas.io/v1alpha1/namespaces/${ns}/models/target`, headers: getHeaders, connections: 100, duration: DURATION_S }));
// The same object through the router and Postgres (a query string takes the routed path).
const getRouted = await measured(() => load({ url: `${base}/apis/eiaas.io/v1alpha1/namespaces/${ns}/models/target?pretty=false`, headers: getHeaders, connections: 100, duration: DURATION_S }));
let n = 0;
const create = await measured(async () => {
  const r = await cannon({
    url: `${base}/apis/eiaas.io/v1alpha1/namespaces/${ns}/models`,
    headers,
    connections: 10,
    duration: DURATION_S,
    requests: [{ method: "POST", setupRequest: (req: any) => ({ ...req, body: JSON.stringify(model(`m-${process.pid}-${n++}`)) }) }],
  });
  return Object.assign(r, { ok: r.requests.total - r.non2xx - r.errors });
});

server.kill("SIGTERM");
await new Promise((r) => server.once("exit", r));
await pgServer.stop();
await rm(dir, { recursive: true, force: true });
await rm(pgDir, { recursive: true, force: true });

const row = (name: string, r: LoadResult, conns: number) =>
  `${name.padEnd(26)} ${String(conns).padStart(5)}  ${r.p50.toFixed(1).padStart(8)}  ${r.p99.toFixed(1).padStart(8)}  ${r.rps.toFixed(0).padStart(8)}  ${String(r.errors).padStart(6)}  (${r.ok} ok, ${r.tool})`;
const createRow: LoadResult = {
  p50: create.latency.p50,
  p99: create.latency.p99,
  rps: create.requests.average,
  errors: create.non2xx + create.errors,
  ok: create.requests.total - create.non2xx - create.errors,
  tool: "autocannon",
};
console.log(`\nAPI benchmark (HTTPS, embedded PostgreSQL 17, ${DURATION_S}s per run, this machine: ${(await import("node:os")).cpus().length} cores)`);
console.log(`${"operation".padEnd(26)} ${"conns".padStart(5)}  ${"p50 ms".padStart(8)}  ${"p99 ms".padStart(8)}  ${"req/s".padStart(8)}  ${"errors".padStart(6)}`);
console.log(row("GET /livez (router only)", livez, 100));
console.log(row("GET model (watch cache)", get, 100));
console.log(row("GET model (router + PG)", getRouted, 100));
console.log(row("POST model (create)", createRow, 10));
console.log(`\nraw Postgres on the same server: ${raw.selectsPerSec.toFixed(0)} selects/s (100 clients), ${raw.insertsPerSec.toFixed(0)} autocommit inserts/s (10 clients)`);
console.log(
  `ratio API/raw: get ${(get.rps / raw.selectsPerSec).toFixed(2)} (routed ${(getRouted.rps / raw.selectsPerSec).toFixed(2)}), create ${(createRow.rps / raw.insertsPerSec).toFixed(2)}; get/router ceiling ${(get.rps / livez.rps).toFixed(2)}`,
);
const cpu = (r: { apiCpuUs: number; pgCpuUs: number }) => `API ${r.apiCpuUs.toFixed(0)} µs + Postgres ${r.pgCpuUs.toFixed(0)} µs`;
console.log(`CPU per request (server process, Postgres): get ${cpu(get)}; routed get ${cpu(getRouted)}; create ${cpu(create)}`);
if (!hasWrk) console.log("note: GETs driven by autocannon in this process, sharing the CPU with the server (wrk absent or BENCH_LOADGEN=autocannon)");
console.log(`targets: get p99 ≤ 25 ms → ${get.p99 <= 25 ? "met" : "MISSED"}; create p99 ≤ 50 ms → ${createRow.p99 <= 50 ? "met" : "MISSED"}`);
