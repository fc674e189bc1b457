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
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    // Fail fast when the database is down so the API can answer 503 instead of hanging.
    connectionTimeoutMillis: 3_000,
  });
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
