import type pg from "pg";
import { kindInfo } from "@eiaas/api";
import { rowToObject, type ObjectRow, type StoredObject } from "./codec.js";

export interface ClusterState {
  /** The newest resourceVersion the read reflects. */
  resourceVersion: string;
  nodes: StoredObject[];
  tenants: StoredObject[];
  /** Every task, finished ones included (workload status needs them; Snapshot skips them). */
  tasks: StoredObject[];
  /** Measured segment timings (what the planner uses in place of the estimate). */
  profiles: StoredObject[];
  /** Each Model's generation by `namespace/name` (which profiles are of the current layer table). */
  modelGenerations: Map<string, number>;
}

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");
const TASK = kindInfo("Task");
const PROFILE = kindInfo("ModelProfile");

/**
 * The rows a Snapshot (design.md §5) is built from, read in one REPEATABLE READ transaction so
 * nodes, tenants, tasks and profiles are one consistent view: the API server's dryRun and endpoint
 * ranking (apps/api-server/src/planning.ts) read it on each request. The scheduler does not: its
 * cycles build their Snapshot from the ClusterCache it keeps current from the watch log
 * (cluster-cache.ts, live-snapshot.ts).
 */
export async function readClusterState(pool: pg.Pool): Promise<ClusterState> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const rv = await client.query<{ value: string }>(`SELECT value::text AS value FROM resource_version_counter WHERE id = 1`);
    const nodes = await client.query<ObjectRow>(`SELECT * FROM edge_nodes ORDER BY name`);
    const tenants = await client.query<ObjectRow>(`SELECT * FROM tenants ORDER BY name`);
    const tasks = await client.query<ObjectRow>(`SELECT * FROM tasks ORDER BY namespace, name`);
    const profiles = await client.query<ObjectRow>(`SELECT * FROM model_profiles ORDER BY namespace, name`);
    const models = await client.query<{ namespace: string; name: string; generation: number }>(`SELECT namespace, name, generation FROM models`);
    await client.query("COMMIT");
    return {
      resourceVersion: rv.rows[0]?.value ?? "0",
      nodes: nodes.rows.map((r) => rowToObject(NODE, r)),
      tenants: tenants.rows.map((r) => rowToObject(TENANT, r)),
      tasks: tasks.rows.map((r) => rowToObject(TASK, r)),
      profiles: profiles.rows.map((r) => rowToObject(PROFILE, r)),
      modelGenerations: new Map(models.rows.map((r) => [`${r.namespace}/${r.name}`, Number(r.generation)])),
    };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
