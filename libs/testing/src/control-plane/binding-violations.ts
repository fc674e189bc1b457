// Test-only: the invariants of bound tasks that must hold whatever crashed or raced.
import type pg from "pg";

/**
 * What must hold of the rows whatever crashed or raced (issue 4): every task bound at most once
 * per plan revision (no duplicate task keys of a workload's revision, no task name added twice),
 * no node over its cpu/memory/gpu capacity or its load bound, no tenant over its quota, and each
 * dispatch job on the queue of the node its task is bound to. Returns the violations (empty when
 * all hold).
 *
 * @param jobs the dispatch job ids (`<task uid>.<attempt>`) found on each node's queue, by node
 *   name; without it the job check is skipped.
 */
export async function bindingViolations(pool: pg.Pool, jobs?: Map<string, string[]>): Promise<string[]> {
  const out: string[] = [];
  const dup = await pool.query(
    `SELECT owner_uid, labels->>'eiaas.io/plan-revision' AS rev, annotations->>'eiaas.io/task-key' AS key, count(*)::int AS n
     FROM tasks GROUP BY 1, 2, 3 HAVING count(*) > 1`,
  );
  for (const r of dup.rows) out.push(`workload ${r.owner_uid} revision ${r.rev}: task ${r.key} bound ${r.n} times`);
  const twice = await pool.query(`SELECT namespace, name, count(*)::int AS n FROM watch_events WHERE kind = 'Task' AND type = 'ADDED' GROUP BY 1, 2 HAVING count(*) > 1`);
  for (const r of twice.rows) out.push(`task ${r.namespace}/${r.name} created ${r.n} times`);
  const nodes = await pool.query(
    `SELECT n.name, n.spec->'capacity' AS cap,
            COALESCE(sum((t.spec->'resources'->>'cpu')::float8), 0) AS cpu,
            COALESCE(sum((t.spec->'resources'->>'memoryMiB')::float8), 0) AS mem,
            COALESCE(sum((t.spec->'resources'->>'gpu')::float8), 0) AS gpu,
            COALESCE(sum(CASE WHEN jsonb_typeof(t.spec->'load') = 'number' THEN (t.spec->>'load')::float8 ELSE 0 END), 0) AS load
     FROM edge_nodes n JOIN tasks t ON t.node_name = n.name AND t.phase NOT IN ('Succeeded', 'Failed')
     GROUP BY n.name, n.spec`,
  );
  for (const r of nodes.rows) {
    const cap = r.cap ?? {};
    if (r.cpu > (cap.cpu ?? 0) + 1e-9) out.push(`node ${r.name}: cpu ${r.cpu} > ${cap.cpu}`);
    if (r.mem > (cap.memoryMiB ?? 0) + 1e-9) out.push(`node ${r.name}: memory ${r.mem} > ${cap.memoryMiB}`);
    if (r.gpu > (cap.gpu ?? 0) + 1e-9) out.push(`node ${r.name}: gpu ${r.gpu} > ${cap.gpu}`);
    const loadCap = (cap.gpu ?? 0) > 0 ? cap.gpu : 1;
    if (r.load > loadCap + 1e-9) out.push(`node ${r.name}: load ${r.load} > ${loadCap}`);
  }
  const tenants = await pool.query(
    `SELECT tn.name, tn.spec->'quota' AS quota, count(t.uid)::int AS tasks,
            COALESCE(sum((t.spec->'resources'->>'cpu')::float8), 0) AS cpu,
            COALESCE(sum((t.spec->'resources'->>'memoryMiB')::float8), 0) AS mem
     FROM tenants tn JOIN tasks t ON t.namespace = tn.name AND t.phase NOT IN ('Succeeded', 'Failed')
     GROUP BY tn.name, tn.spec`,
  );
  for (const r of tenants.rows) {
    const q = r.quota ?? {};
    if (q.cpu !== undefined && r.cpu > q.cpu + 1e-9) out.push(`tenant ${r.name}: cpu ${r.cpu} > quota ${q.cpu}`);
    if (q.memoryMiB !== undefined && r.mem > q.memoryMiB + 1e-9) out.push(`tenant ${r.name}: memory ${r.mem} > quota ${q.memoryMiB}`);
    if (q.tasks !== undefined && r.tasks > q.tasks) out.push(`tenant ${r.name}: ${r.tasks} tasks > quota ${q.tasks}`);
  }
  if (jobs) {
    const tasks = await pool.query<{ uid: string; node_name: string; attempt: number }>(`SELECT uid::text, node_name, attempt FROM tasks`);
    const byUid = new Map(tasks.rows.map((t) => [t.uid, t]));
    const seen = new Map<string, string>();
    for (const [node, ids] of jobs) {
      for (const id of ids) {
        const uid = id.slice(0, id.lastIndexOf("."));
        const other = seen.get(uid);
        if (other !== undefined && other !== node) out.push(`task ${uid} has jobs on node.${other} and node.${node}`);
        seen.set(uid, node);
        const t = byUid.get(uid);
        if (t && t.node_name !== node) out.push(`job ${id} on node.${node} but its task is bound to ${t.node_name}`);
      }
    }
  }
  return out;
}
