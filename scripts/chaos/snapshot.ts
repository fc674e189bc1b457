// One consistent read of Postgres (a REPEATABLE READ, read-only transaction): every task, node,
// tenant and workload, the usage tables, and the usage recomputed from the tasks — in SQL of its
// own, not the product's functions, so a wrong trigger cannot agree with itself.
import pg from "pg";
import type { StoredRow } from "./ledger.js";

export interface TaskRow {
  uid: string;
  namespace: string;
  name: string;
  node: string;
  phase: string;
  attempt: number;
  ownerUid: string | null;
  created: number;
  revision: string | undefined;
  planSize: number | undefined;
}

export interface NodeRow {
  name: string;
  phase: string;
  capacity: { cpu?: number; memoryMiB?: number; gpu?: number; tasks?: number };
  /** What its agent said it runs at its last recorded heartbeat. */
  runningTasks: string[];
}

export interface WorkloadRow {
  kind: "InferenceService" | "TrainingJob";
  uid: string;
  namespace: string;
  name: string;
  generation: number;
  created: number;
  deleting: boolean;
  status: any;
}

export interface TenantRow {
  name: string;
  uid: string;
  deleting: boolean;
  quota: { cpu?: number; memoryMiB?: number; gpu?: number; tasks?: number };
}

/** A row of node_usage or namespace_usage beside the same sums over the unfinished tasks. */
export interface UsageRow {
  key: string;
  table: { tasks: string; cpu: string; memory: string; gpu: string; load?: string };
  tasks: { tasks: string; cpu: string; memory: string; gpu: string; load?: string };
}

export interface Snapshot {
  tasks: TaskRow[];
  nodes: NodeRow[];
  workloads: WorkloadRow[];
  tenants: TenantRow[];
  /** Every object of the ledger's kinds (for the ledger check). */
  objects: StoredRow[];
  /** Usage rows and recomputed sums that differ. */
  usageMismatches: UsageRow[];
  /** node_usage and namespace_usage as stored (for over-commit and quota). */
  nodeUsage: Map<string, { cpu: number; memory: number; gpu: number; load: number; tasks: number }>;
  namespaceUsage: Map<string, { cpu: number; memory: number; gpu: number; tasks: number }>;
  /** Sums over the unfinished tasks, per node and per namespace. */
  nodeSums: Map<string, { cpu: number; memory: number; gpu: number; load: number; tasks: number }>;
  namespaceSums: Map<string, { cpu: number; memory: number; gpu: number; tasks: number }>;
}

// A JSON number as an exact decimal, anything else 0 (as the usage trigger reads them).
const NUM = (e: string) => `(CASE WHEN jsonb_typeof(${e}) = 'number' THEN (${e})::text::numeric ELSE 0 END)`;
const LOAD = NUM("t.spec->'load'");
const UNFINISHED = `t.phase NOT IN ('Succeeded', 'Failed')`;

const NODE_SUMS = `SELECT t.node_name AS key, count(*)::numeric AS tasks, sum(${NUM("t.spec->'resources'->'cpu'")}) AS cpu,
  sum(${NUM("t.spec->'resources'->'memoryMiB'")}) AS memory, sum(${NUM("t.spec->'resources'->'gpu'")}) AS gpu, sum(${LOAD}) AS load
  FROM tasks t WHERE ${UNFINISHED} AND t.node_name <> '' GROUP BY t.node_name`;
const NS_SUMS = `SELECT t.namespace AS key, count(*)::numeric AS tasks, sum(${NUM("t.spec->'resources'->'cpu'")}) AS cpu,
  sum(${NUM("t.spec->'resources'->'memoryMiB'")}) AS memory, sum(${NUM("t.spec->'resources'->'gpu'")}) AS gpu
  FROM tasks t WHERE ${UNFINISHED} GROUP BY t.namespace`;

const n = (v: unknown) => Number(v ?? 0);
const ms = (v: Date | string) => new Date(v).getTime();

export async function readSnapshot(pool: pg.Pool): Promise<Snapshot> {
  const c = await pool.connect();
  let broken: Error | undefined;
  try {
    await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const tasks = await c.query(
      `SELECT uid::text, namespace, name, node_name, phase, attempt, COALESCE((status->>'attempt')::int, attempt) AS status_attempt,
              owner_uid::text, creation_timestamp, labels->>'eiaas.io/plan-revision' AS rev, labels->>'eiaas.io/plan-size' AS size
       FROM tasks`,
    );
    const nodes = await c.query(`SELECT name, phase, spec->'capacity' AS capacity, status->'runningTasks' AS running FROM edge_nodes`);
    const workloads = await c.query(
      `SELECT 'InferenceService' AS kind, uid::text, namespace, name, generation, creation_timestamp, deletion_timestamp, status FROM inference_services
       UNION ALL SELECT 'TrainingJob', uid::text, namespace, name, generation, creation_timestamp, deletion_timestamp, status FROM training_jobs`,
    );
    const tenants = await c.query(`SELECT name, uid::text, deletion_timestamp, spec->'quota' AS quota FROM tenants`);
    const objects = await c.query(
      `SELECT 'Tenant' AS kind, uid::text, namespace, name, generation, spec, deletion_timestamp FROM tenants
       UNION ALL SELECT 'Model', uid::text, namespace, name, generation, spec, deletion_timestamp FROM models
       UNION ALL SELECT 'InferenceService', uid::text, namespace, name, generation, spec, deletion_timestamp FROM inference_services
       UNION ALL SELECT 'TrainingJob', uid::text, namespace, name, generation, spec, deletion_timestamp FROM training_jobs`,
    );
    const nodeCmp = await c.query(
      `WITH s AS (${NODE_SUMS})
       SELECT COALESCE(u.node_name, s.key) AS key,
              COALESCE(u.tasks, 0)::text AS u_tasks, COALESCE(u.cpu, 0)::text AS u_cpu, COALESCE(u.memory_mib, 0)::text AS u_memory, COALESCE(u.gpu, 0)::text AS u_gpu, COALESCE(u.load, 0)::text AS u_load,
              COALESCE(s.tasks, 0)::text AS s_tasks, COALESCE(s.cpu, 0)::text AS s_cpu, COALESCE(s.memory, 0)::text AS s_memory, COALESCE(s.gpu, 0)::text AS s_gpu, COALESCE(s.load, 0)::text AS s_load,
              (COALESCE(u.tasks, 0) <> COALESCE(s.tasks, 0) OR COALESCE(u.cpu, 0) <> COALESCE(s.cpu, 0) OR COALESCE(u.memory_mib, 0) <> COALESCE(s.memory, 0)
               OR COALESCE(u.gpu, 0) <> COALESCE(s.gpu, 0) OR COALESCE(u.load, 0) <> COALESCE(s.load, 0)) AS differs
       FROM node_usage u FULL JOIN s ON s.key = u.node_name`,
    );
    const nsCmp = await c.query(
      `WITH s AS (${NS_SUMS})
       SELECT COALESCE(u.namespace, s.key) AS key,
              COALESCE(u.tasks, 0)::text AS u_tasks, COALESCE(u.cpu, 0)::text AS u_cpu, COALESCE(u.memory_mib, 0)::text AS u_memory, COALESCE(u.gpu, 0)::text AS u_gpu,
              COALESCE(s.tasks, 0)::text AS s_tasks, COALESCE(s.cpu, 0)::text AS s_cpu, COALESCE(s.memory, 0)::text AS s_memory, COALESCE(s.gpu, 0)::text AS s_gpu,
              (COALESCE(u.tasks, 0) <> COALESCE(s.tasks, 0) OR COALESCE(u.cpu, 0) <> COALESCE(s.cpu, 0) OR COALESCE(u.memory_mib, 0) <> COALESCE(s.memory, 0)
               OR COALESCE(u.gpu, 0) <> COALESCE(s.gpu, 0)) AS differs
       FROM namespace_usage u FULL JOIN s ON s.key = u.namespace`,
    );
    await c.query("COMMIT");

    const usageMismatches: UsageRow[] = [];
    const nodeUsage: Snapshot["nodeUsage"] = new Map();
    const nodeSums: Snapshot["nodeSums"] = new Map();
    for (const r of nodeCmp.rows) {
      nodeUsage.set(r.key, { tasks: n(r.u_tasks), cpu: n(r.u_cpu), memory: n(r.u_memory), gpu: n(r.u_gpu), load: n(r.u_load) });
      nodeSums.set(r.key, { tasks: n(r.s_tasks), cpu: n(r.s_cpu), memory: n(r.s_memory), gpu: n(r.s_gpu), load: n(r.s_load) });
      if (r.differs) {
        usageMismatches.push({
          key: `node ${r.key}`,
          table: { tasks: r.u_tasks, cpu: r.u_cpu, memory: r.u_memory, gpu: r.u_gpu, load: r.u_load },
          tasks: { tasks: r.s_tasks, cpu: r.s_cpu, memory: r.s_memory, gpu: r.s_gpu, load: r.s_load },
        });
      }
    }
    const namespaceUsage: Snapshot["namespaceUsage"] = new Map();
    const namespaceSums: Snapshot["namespaceSums"] = new Map();
    for (const r of nsCmp.rows) {
      namespaceUsage.set(r.key, { tasks: n(r.u_tasks), cpu: n(r.u_cpu), memory: n(r.u_memory), gpu: n(r.u_gpu) });
      namespaceSums.set(r.key, { tasks: n(r.s_tasks), cpu: n(r.s_cpu), memory: n(r.s_memory), gpu: n(r.s_gpu) });
      if (r.differs) {
        usageMismatches.push({
          key: `namespace ${r.key}`,
          table: { tasks: r.u_tasks, cpu: r.u_cpu, memory: r.u_memory, gpu: r.u_gpu },
          tasks: { tasks: r.s_tasks, cpu: r.s_cpu, memory: r.s_memory, gpu: r.s_gpu },
        });
      }
    }
    return {
      tasks: tasks.rows.map((r) => ({
        uid: r.uid,
        namespace: r.namespace,
        name: r.name,
        node: r.node_name,
        phase: r.phase,
        attempt: Number(r.status_attempt),
        ownerUid: r.owner_uid,
        created: ms(r.creation_timestamp),
        revision: r.rev ?? undefined,
        planSize: r.size === null ? undefined : Number(r.size),
      })),
      nodes: nodes.rows.map((r) => ({ name: r.name, phase: r.phase, capacity: r.capacity ?? {}, runningTasks: Array.isArray(r.running) ? r.running : [] })),
      workloads: workloads.rows.map((r) => ({
        kind: r.kind,
        uid: r.uid,
        namespace: r.namespace,
        name: r.name,
        generation: Number(r.generation),
        created: ms(r.creation_timestamp),
        deleting: r.deletion_timestamp !== null,
        status: r.status ?? {},
      })),
      tenants: tenants.rows.map((r) => ({ name: r.name, uid: r.uid, deleting: r.deletion_timestamp !== null, quota: r.quota ?? {} })),
      objects: objects.rows.map((r) => ({ kind: r.kind, uid: r.uid, namespace: r.namespace, name: r.name, generation: Number(r.generation), spec: r.spec, deleting: r.deletion_timestamp !== null })),
      usageMismatches,
      nodeUsage,
      namespaceUsage,
      nodeSums,
      namespaceSums,
    };
  } catch (err) {
    broken = err as Error;
    await c.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    // A connection that failed (Postgres stopped under it) is dropped, not pooled.
    c.release(broken);
  }
}
