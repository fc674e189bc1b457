// The stateful services under the control plane: an embedded PostgreSQL that the harness really
// stops (the server process exits) and starts again on the same data directory and port, and a
// redis-server that it kills with SIGKILL and starts again, empty, on the same port.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { applyMigrations, ensureDatabase, freePort, startEmbeddedPostgres, type RunningPostgres } from "@eiaas/db";
import { ManagedProcess, onAbandon, type UnexpectedExit } from "./processes.js";

export class PostgresService {
  private server?: RunningPostgres;
  /** The URL maker of the last start: the superuser's password is the cluster's own (random). */
  private urlOf?: RunningPostgres["url"];

  private constructor(
    readonly dataDir: string,
    readonly port: number,
  ) {}

  /** A new cluster with the `eiaas` database, migrated. */
  static async create(): Promise<PostgresService> {
    const pg = new PostgresService(await mkdtemp(join(tmpdir(), "eiaas-chaos-pg-")), await freePort());
    try {
      await pg.start();
      await ensureDatabase(pg.url("postgres"), "eiaas");
      await applyMigrations(pg.url("eiaas"));
    } catch (err) {
      // Nothing else knows of this cluster yet: a failed set-up leaves no server or files behind.
      await pg.stop().catch(() => undefined);
      await rm(pg.dataDir, { recursive: true, force: true });
      throw err;
    }
    return pg;
  }

  url(database = "eiaas"): string {
    if (!this.urlOf) throw new Error("Postgres was never started");
    return this.urlOf(database);
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /**
   * Starts the server on the cluster's directory and port. fsync is off (the run never crashes
   * Postgres, it stops it cleanly, so no acknowledged commit can be lost; on two shared cores the
   * fsyncs would only slow everything else).
   */
  async start(): Promise<void> {
    this.server = await startEmbeddedPostgres({ dataDir: this.dataDir, port: this.port, persistent: true, ephemeral: true, maxConnections: 300 });
    this.urlOf = this.server.url;
  }

  /** A real stop: the postmaster is told to shut down (fast mode) and exits; connections break. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await s?.stop();
  }
}

async function waitForRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      return;
    } catch (err) {
      client.disconnect();
      if (Date.now() > deadline) throw new Error(`redis at ${url} did not come up: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export class RedisService {
  private constructor(
    readonly process: ManagedProcess,
    readonly port: number,
    private readonly dir: string,
  ) {}

  private forget = () => {};

  /** redis-server on a free port, no persistence: a restart starts it empty. */
  static async create(logDir: string, unexpected: UnexpectedExit[]): Promise<RedisService> {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), "eiaas-chaos-redis-"));
    const proc = new ManagedProcess(
      {
        name: "redis",
        command: "redis-server",
        args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no"],
        env: {},
      },
      logDir,
      unexpected,
    );
    const r = new RedisService(proc, port, dir);
    r.forget = onAbandon(() => rm(dir, { recursive: true, force: true }));
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.process.start();
    await waitForRedis(this.url);
  }

  async close(): Promise<void> {
    await this.process.stop();
    this.forget();
    await rm(this.dir, { recursive: true, force: true });
  }
}
