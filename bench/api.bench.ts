// `npm run bench:api`: API latency and throughput on this machine, beside the raw Postgres rates
// measured in the same run. The API server runs as its own process (HTTPS, embedded PostgreSQL);
// autocannon drives it from this one.
import { spawn } from "node:child_process";
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
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < n) await op(next++);
    }));
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
await call("POST", "/apis/eiaas.io/v1alpha1/tenants", { apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name: ns } });
const model = (name: string) => ({
  apiVersion: "eiaas.io/v1alpha1",
  kind: "Model",
  metadata: { name, namespace: ns, labels: { bench: "yes" } },
  spec: { inputBytes: 602112, accuracy: 0.7, layers: Array.from({ length: 10 }, (_, i) => ({ name: `l${i}`, flops: 1e8, outputBytes: 100_000, memoryMiB: 1 })) },
});
await call("POST", `/apis/eiaas.io/v1alpha1/namespaces/${ns}/models`, model("target"));

function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ ...opts, tlsOptions } as autocannon.Options, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

const raw = await rawPostgres();
// Warm-up (JIT, pools, TLS sessions) then measure.
await cannon({ url: `${base}/apis/eiaas.io/v1alpha1/namespaces/${ns}/models/target`, headers, connections: 20, duration: 2 });
// The transport's own ceiling on this machine: HTTPS + Express with no auth and no database.
const livez = await cannon({ url: `${base}/livez`, connections: 100, duration: Math.max(3, Math.round(DURATION_S / 2)) });
const get = await cannon({ url: `${base}/apis/eiaas.io/v1alpha1/namespaces/${ns}/models/target`, headers, connections: 100, duration: DURATION_S });
let n = 0;
const create = await cannon({
  url: `${base}/apis/eiaas.io/v1alpha1/namespaces/${ns}/models`,
  headers,
  connections: 10,
  duration: DURATION_S,
  requests: [{ method: "POST", setupRequest: (req: any) => ({ ...req, body: JSON.stringify(model(`m-${process.pid}-${n++}`)) }) }],
});

server.kill("SIGTERM");
await new Promise((r) => server.once("exit", r));
await pgServer.stop();
await rm(dir, { recursive: true, force: true });
await rm(pgDir, { recursive: true, force: true });

const row = (name: string, r: autocannon.Result, conns: number) => {
  const ok = r.requests.total - r.non2xx - r.errors;
  return `${name.padEnd(22)} ${String(conns).padStart(5)}  ${r.latency.p50.toFixed(1).padStart(8)}  ${r.latency.p99.toFixed(1).padStart(8)}  ${r.requests.average.toFixed(0).padStart(8)}  ${String(r.non2xx + r.errors).padStart(6)}  (${ok} ok)`;
};
console.log(`\nAPI benchmark (HTTPS, embedded PostgreSQL 17, ${DURATION_S}s per run, this machine: ${(await import("node:os")).cpus().length} cores)`);
console.log(`${"operation".padEnd(22)} ${"conns".padStart(5)}  ${"p50 ms".padStart(8)}  ${"p99 ms".padStart(8)}  ${"req/s".padStart(8)}  ${"errors".padStart(6)}`);
console.log(row("GET /livez (ceiling)", livez, 100));
console.log(row("GET model", get, 100));
console.log(row("POST model (create)", create, 10));
console.log(`\nraw Postgres on the same server: ${raw.selectsPerSec.toFixed(0)} selects/s (100 clients), ${raw.insertsPerSec.toFixed(0)} autocommit inserts/s (10 clients)`);
console.log(`ratio API/raw: get ${(get.requests.average / raw.selectsPerSec).toFixed(2)}, create ${(create.requests.average / raw.insertsPerSec).toFixed(2)}; get/transport ceiling ${(get.requests.average / livez.requests.average).toFixed(2)}`);
console.log(`targets: get p99 ≤ 25 ms → ${get.latency.p99 <= 25 ? "met" : "MISSED"}; create p99 ≤ 50 ms → ${create.latency.p99 <= 50 ? "met" : "MISSED"}`);
