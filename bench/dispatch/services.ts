// The services bench:dispatch runs on — one durable embedded PostgreSQL, one redis-server — and
// the control plane's processes it starts on them.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { applyMigrations, ensureDatabase, freePort, startEmbeddedPostgres, type RunningPostgres } from "@eiaas/db";
import { startRedis } from "@eiaas/testing";
import { Redis } from "ioredis";
import { EXTRA_PG_SETTINGS, PG_STATS } from "./config.js";

export interface BenchServices {
  pg: RunningPostgres;
  redisUrl: string;
  /** A directory for the processes' data (the API server's certificates), removed at the end. */
  dataDir: string;
  /**
   * A database of its own for a stage, migrated, the previous stages' dropped first: their tables,
   * full of rows the stage updated, would otherwise be vacuumed by autovacuum during the next
   * stage. Redis is emptied too: the bind stage leaves its dispatch jobs in node queues of the
   * same names, which the latency stage's agents would otherwise take and report (404s) through
   * its cold start. Returns the database's URL.
   */
  freshDatabase(name: string): Promise<string>;
  /** Starts `script` (a TypeScript entry point) as a node process of its own. */
  startChild(name: string, script: string, env: Record<string, string>): ChildProcess;
  /** SIGTERM, then SIGKILL after 5 s. */
  stopChild(child: ChildProcess): Promise<void>;
  /** Kills what is left and removes the services and their data. */
  cleanup(): Promise<void>;
}

export async function startServices(): Promise<BenchServices> {
  const pgDir = await mkdtemp(join(tmpdir(), "eiaas-bench-pg-"));
  const dataDir = await mkdtemp(join(tmpdir(), "eiaas-bench-dispatch-"));
  const settings = { ...(PG_STATS ? { shared_preload_libraries: "pg_stat_statements", "pg_stat_statements.track_planning": "on" } : {}), ...EXTRA_PG_SETTINGS };
  const pgServer = await startEmbeddedPostgres({ dataDir: pgDir, port: await freePort(), persistent: false, maxConnections: 300, settings });
  // A Redis that cannot start (not installed) must not leave this Postgres running behind.
  const redis = await startRedis().catch(async (err: unknown) => {
    await pgServer.stop().catch(() => undefined);
    await rm(pgDir, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  });
  const children: ChildProcess[] = [];
  const stageDatabases: string[] = [];

  return {
    pg: pgServer,
    redisUrl: redis.url,
    dataDir,
    async freshDatabase(name) {
      const admin = new pg.Client({ connectionString: pgServer.url("postgres") });
      await admin.connect();
      try {
        for (const old of stageDatabases.splice(0)) await admin.query(`DROP DATABASE IF EXISTS "${old}" WITH (FORCE)`);
      } finally {
        await admin.end();
      }
      const r = new Redis(redis.url);
      try {
        await r.flushall();
      } finally {
        r.disconnect();
      }
      stageDatabases.push(name);
      await ensureDatabase(pgServer.url("postgres"), name);
      const url = pgServer.url(name);
      await applyMigrations(url);
      return url;
    },
    startChild(name, script, env) {
      const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${name}`] : [];
      // BENCH_CHILD_FLAGS: more node flags for the API server and scheduler (e.g. --trace-gc, which
      // NODE_OPTIONS does not take).
      const flags = (process.env.BENCH_CHILD_FLAGS ?? "").split(" ").filter(Boolean);
      const child = spawn(process.execPath, [...prof, ...flags, "--import", "tsx", script], { env: { ...process.env, EIAAS_LOG_LEVEL: "warn", ...env }, stdio: ["ignore", "inherit", "inherit"] });
      child.once("exit", (code, signal) => {
        if (code !== null && code !== 0) console.error(`${name} exited with ${code ?? signal}`);
      });
      children.push(child);
      return child;
    },
    async stopChild(child) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
    async cleanup() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      await redis.stop().catch(() => undefined);
      await pgServer.stop().catch(() => undefined);
      await rm(pgDir, { recursive: true, force: true });
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
