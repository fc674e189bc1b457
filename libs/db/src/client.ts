import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/prisma/client.js";

export type { PrismaClient } from "./generated/prisma/client.js";

export interface PrismaOptions {
  /** Connection pool size. Default 10. */
  poolSize?: number;
}

/** A Prisma client over the pg driver adapter (no Rust engine: works offline). */
export function createPrismaClient(databaseUrl: string, options: PrismaOptions = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    // Fail fast when the database is down so the API can answer 503 instead of hanging.
    connectionTimeoutMillis: 3_000,
  });
  return new PrismaClient({ adapter });
}
