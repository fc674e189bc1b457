import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "./generated/prisma/client.js";

export type { PrismaClient } from "./generated/prisma/client.js";

export interface DatabaseOptions {
  /** Connection pool size. Default 10. */
  poolSize?: number;
}

/** One pg pool shared by Prisma (typed access) and the hot-path SQL (ObjectStore). */
export interface Database {
  pool: pg.Pool;
  prisma: PrismaClient;
  close(): Promise<void>;
}

/** A pg pool and a Prisma client on it (driver adapter: no Rust engine, works offline). */
export function createDatabase(databaseUrl: string, options: DatabaseOptions = {}): Database {
  // `pipeline` (node-postgres ≥ 8.2x) is not in @types/pg yet.
  const config: pg.PoolConfig & { pipeline: boolean } = {
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    // Fail fast when the database is down so the API can answer 503 instead of hanging.
    connectionTimeoutMillis: 3_000,
    // Queries queued on one checked-out client go out without waiting for each other's answers
    // (node-postgres pipelining). Only transactions that hold the version counter use that: their
    // statements and COMMIT leave together, so the lock is never held across a round trip through
    // a busy event loop (ObjectStore.applyBatch, bindTasks). One-at-a-time callers are unaffected.
    pipeline: true,
  };
  const pool = new pg.Pool(config);
  // An idle client dying (Postgres restarted) must not crash the process; the pool replaces it.
  pool.on("error", () => undefined);
  // Nor one that is checked out between two queries (a transaction's client when Postgres shuts
  // down: its FATAL arrives with no query active, and the pool listens only to idle clients). The
  // caller's next query fails instead, and the pool discards the broken client on release.
  pool.on("connect", (client) => client.on("error", () => undefined));
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    pool,
    prisma,
    close: async () => {
      await prisma.$disconnect();
      await pool.end().catch(() => undefined);
    },
  };
}
