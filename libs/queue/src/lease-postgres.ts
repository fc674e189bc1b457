import pg from "pg";
import type { LeaseStore, NodeLease } from "./lease.js";

/** Anything that runs a parameterized query: a `pg.Pool`, a `pg.Client`, or a wrapper. */
export interface SqlQueryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

interface LeaseRow {
  node_name: string;
  holder: string;
  renew_time: Date;
}

const toLease = (r: LeaseRow): NodeLease => ({ nodeName: r.node_name, holder: r.holder, renewTime: new Date(r.renew_time) });

/**
 * Leases in the `node_leases` table (the embedded default, without Redis). Takes a connection
 * string (the store opens and closes its own small pool) or any {@link SqlQueryable}, left open.
 */
export function createPostgresLeaseStore(db: string | SqlQueryable): LeaseStore {
  const owned = typeof db === "string" ? new pg.Pool({ connectionString: db, max: 4 }) : undefined;
  if (owned) {
    owned.on("error", () => undefined);
    owned.on("connect", (client) => client.on("error", () => undefined));
  }
  const q: SqlQueryable = owned ?? (db as SqlQueryable);
  const rows = async (sql: string, params: unknown[] = []) => (await q.query(sql, params)).rows as LeaseRow[];
  return {
    kind: "postgres",
    async renew(nodeName, holder, now) {
      // The WHERE keeps renewals monotonic under concurrent API replicas.
      await q.query(
        `INSERT INTO node_leases (node_name, holder, renew_time) VALUES ($1, $2, $3)
         ON CONFLICT (node_name) DO UPDATE SET holder = EXCLUDED.holder, renew_time = EXCLUDED.renew_time
         WHERE node_leases.renew_time <= EXCLUDED.renew_time`,
        [nodeName, holder, now],
      );
    },
    async get(nodeName) {
      const [row] = await rows(`SELECT node_name, holder, renew_time FROM node_leases WHERE node_name = $1`, [nodeName]);
      return row ? toLease(row) : undefined;
    },
    async listExpired(olderThan) {
      return (await rows(`SELECT node_name, holder, renew_time FROM node_leases WHERE renew_time < $1 ORDER BY renew_time, node_name`, [olderThan])).map(toLease);
    },
    async getAll() {
      return (await rows(`SELECT node_name, holder, renew_time FROM node_leases ORDER BY renew_time, node_name`)).map(toLease);
    },
    async delete(nodeName) {
      await q.query(`DELETE FROM node_leases WHERE node_name = $1`, [nodeName]);
    },
    async close() {
      await owned?.end();
    },
  };
}
