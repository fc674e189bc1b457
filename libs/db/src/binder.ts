import type pg from "pg";
import { kindInfo, type KindInfo } from "@eiaas/api";
import { extraColumns, rowToObject, type ObjectRow, type StoredObject } from "./codec.js";
import { TRACEPARENT_ANNOTATION, linksFrom } from "@eiaas/telemetry";
import { dbSpan } from "./tracing.js";
import { WATCH_CHANNEL } from "./write-sql.js";

/** Annotation with the busy fraction a task adds to its node (shared with libs/scheduling). */
export const TASK_LOAD_ANNOTATION = "scheduling.eiaas.io/load";

/** One workload's tasks: bound all together or not at all (gang). */
export interface BindGroup {
  /** For results and messages, e.g. `InferenceService acme/cam`. */
  id: string;
  namespace: string;
  /** Prepared Task objects (ObjectStore.prepareCreate) with spec.nodeName set. */
  tasks: StoredObject[];
  /** Existing tasks of the group to delete in the same transaction (roll-over, replacement). */
  deletes?: StoredObject[];
  /**
   * The owning workload with its new status (the plan that produced these tasks), written in the
   * same transaction so a plan and its tasks are never seen apart. Conditional on its
   * resourceVersion: a workload changed since it was read refuses the group.
   */
  owner?: { kind: KindInfo; object: StoredObject };
}

export type BindOutcome = { id: string; bound: true; tasks: StoredObject[] } | { id: string; bound: false; reason: string };

const TASK = kindInfo("Task");

interface NodeRow {
  name: string;
  phase: string;
  spec: { capacity?: { cpu?: number; memoryMiB?: number; gpu?: number }; unschedulable?: boolean };
  status: { conditions?: Array<{ type: string; status: string }> };
  cpu: number;
  mem: number;
  gpu: number;
  load: number;
}

interface Usage {
  cpu: number;
  mem: number;
  gpu: number;
  tasks: number;
}

function num(v: unknown): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

/**
 * Binds tasks in one Postgres transaction, re-checking what the plan assumed against the rows as
 * they are now: node exists, is Ready and schedulable, cpu/memory/gpu fit, server load ≤ 1 (≤ gpu
 * count with GPUs), tenant quota holds. The counter row is locked first, as by every writer, so no
 * other bind or write interleaves: two schedulers (or a retry) can never over-commit. Groups are
 * taken in order; one that no longer fits is refused whole and the rest continue. Inserts, deletes
 * and their watch events are batched into a handful of statements whatever the task count.
 */
export function bindTasks(pool: pg.Pool, groups: readonly BindGroup[]): Promise<BindOutcome[]> {
  // One transaction for many workloads: its span links to each workload's plan (the traceparent
  // the scheduler put on the tasks) instead of belonging to one of them.
  const links = linksFrom(groups.map((g) => g.tasks[0]?.metadata.annotations[TRACEPARENT_ANNOTATION]));
  return dbSpan("BIND", "tasks", () => bind(pool, groups), { requireParent: false, links, attributes: { "eiaas.bind.groups": groups.length } });
}

async function bind(pool: pg.Pool, groups: readonly BindGroup[]): Promise<BindOutcome[]> {
  const all = groups.flatMap((g) => g.tasks);
  const deletes = groups.flatMap((g) => g.deletes ?? []);
  if (all.length === 0 && deletes.length === 0) return groups.map((g) => ({ id: g.id, bound: true, tasks: [] }));
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const owners = groups.filter((g) => g.owner).length;
    const versions = all.length + deletes.length + owners;
    const top = await client.query<{ value: string }>(
      `UPDATE resource_version_counter SET value = value + $1 WHERE id = 1 RETURNING value::text AS value`,
      [versions],
    );
    let nextRv = BigInt(top.rows[0]!.value) - BigInt(versions) + 1n;

    const nodeNames = [...new Set(all.map((t) => t.spec.nodeName as string))];
    const nodes = new Map<string, NodeRow>();
    if (nodeNames.length) {
      const r = await client.query<NodeRow>(
        `SELECT n.name, n.phase, n.spec, n.status,
                COALESCE(sum((t.spec->'resources'->>'cpu')::float8), 0) AS cpu,
                COALESCE(sum((t.spec->'resources'->>'memoryMiB')::float8), 0) AS mem,
                COALESCE(sum((t.spec->'resources'->>'gpu')::float8), 0) AS gpu,
                COALESCE(sum((t.annotations->>'${TASK_LOAD_ANNOTATION}')::float8), 0) AS load
         FROM edge_nodes n
         LEFT JOIN tasks t ON t.node_name = n.name AND t.phase NOT IN ('Succeeded', 'Failed') AND NOT (t.uid = ANY($2::uuid[]))
         WHERE n.name = ANY($1::text[]) GROUP BY n.name, n.phase, n.spec, n.status`,
        [nodeNames, deletes.map((d) => d.metadata.uid)],
      );
      for (const row of r.rows) nodes.set(row.name, { ...row, cpu: num(row.cpu), mem: num(row.mem), gpu: num(row.gpu), load: num(row.load) });
    }
    const namespaces = [...new Set(groups.map((g) => g.namespace))];
    const quotas = new Map<string, { cpu?: number; memoryMiB?: number; gpu?: number; tasks?: number }>();
    const usage = new Map<string, Usage>();
    const q = await client.query<{ name: string; quota: any }>(`SELECT name, spec->'quota' AS quota FROM tenants WHERE name = ANY($1::text[])`, [namespaces]);
    for (const row of q.rows) quotas.set(row.name, row.quota ?? {});
    const u = await client.query<{ namespace: string; cpu: number; mem: number; gpu: number; tasks: string }>(
      `SELECT namespace, COALESCE(sum((spec->'resources'->>'cpu')::float8), 0) AS cpu,
              COALESCE(sum((spec->'resources'->>'memoryMiB')::float8), 0) AS mem,
              COALESCE(sum((spec->'resources'->>'gpu')::float8), 0) AS gpu, count(*) AS tasks
       FROM tasks WHERE namespace = ANY($1::text[]) AND phase NOT IN ('Succeeded', 'Failed') AND NOT (uid = ANY($2::uuid[])) GROUP BY namespace`,
      [namespaces, deletes.map((d) => d.metadata.uid)],
    );
    for (const row of u.rows) usage.set(row.namespace, { cpu: num(row.cpu), mem: num(row.mem), gpu: num(row.gpu), tasks: Number(row.tasks) });

    // The owners' versions as they are now: under the counter-row lock no other writer commits
    // before this transaction ends, so each group's precondition is a lookup, and the accepted
    // owners' status writes go out as one statement per kind (not one round trip per workload).
    const ownerRv = new Map<string, string>();
    const ownerTables = new Map<string, string[]>();
    for (const g of groups) if (g.owner) ownerTables.set(g.owner.kind.table, [...(ownerTables.get(g.owner.kind.table) ?? []), g.owner.object.metadata.uid]);
    for (const [table, uids] of ownerTables) {
      const r = await client.query<{ uid: string; rv: string }>(`SELECT uid::text AS uid, resource_version::text AS rv FROM "${table}" WHERE uid = ANY($1::uuid[])`, [uids]);
      for (const row of r.rows) ownerRv.set(row.uid, row.rv);
    }
    const ownerWrites = new Map<string, Array<{ uid: string; status: unknown; phase: string; rv: string; expected: string }>>();

    const outcomes: BindOutcome[] = [];
    const inserts: StoredObject[] = [];
    const removed: StoredObject[] = [];
    const events: Array<{ resource_version: string; kind: string; namespace: string; name: string; type: string; object: StoredObject }> = [];
    for (const g of groups) {
      let reason = checkGroup(g, nodes, quotas.get(g.namespace), usage.get(g.namespace) ?? { cpu: 0, mem: 0, gpu: 0, tasks: 0 });
      if (!reason && g.owner) {
        const o = g.owner.object;
        if (ownerRv.get(o.metadata.uid) !== String(o.metadata.resourceVersion)) reason = `${g.owner.kind.kind} ${o.metadata.name} changed since it was planned`;
        else {
          const rv = String(nextRv++);
          ownerRv.set(o.metadata.uid, rv);
          const writes = ownerWrites.get(g.owner.kind.table) ?? [];
          writes.push({ uid: o.metadata.uid, status: o.status ?? {}, phase: o.status?.phase ?? "", rv, expected: String(o.metadata.resourceVersion) });
          ownerWrites.set(g.owner.kind.table, writes);
          const updated = { ...o, metadata: { ...o.metadata, resourceVersion: rv } };
          events.push({ resource_version: rv, kind: g.owner.kind.kind, namespace: o.metadata.namespace ?? "", name: o.metadata.name, type: "MODIFIED", object: updated });
        }
      }
      if (reason) {
        outcomes.push({ id: g.id, bound: false, reason });
        continue;
      }
      // Commit the group's usage into the running totals for the groups after it.
      const tu = usage.get(g.namespace) ?? { cpu: 0, mem: 0, gpu: 0, tasks: 0 };
      for (const t of g.tasks) {
        const n = nodes.get(t.spec.nodeName)!;
        const r = t.spec.resources ?? {};
        n.cpu += num(r.cpu);
        n.mem += num(r.memoryMiB);
        n.gpu += num(r.gpu);
        n.load += num(t.metadata.annotations[TASK_LOAD_ANNOTATION]);
        tu.cpu += num(r.cpu);
        tu.mem += num(r.memoryMiB);
        tu.gpu += num(r.gpu);
        tu.tasks += 1;
      }
      usage.set(g.namespace, tu);
      const bound = g.tasks.map((t) => ({ ...t, metadata: { ...t.metadata, resourceVersion: String(nextRv++) } }));
      inserts.push(...bound);
      removed.push(...(g.deletes ?? []));
      outcomes.push({ id: g.id, bound: true, tasks: bound });
    }

    for (const [table, rows] of ownerWrites) {
      const r = await client.query(
        `UPDATE "${table}" t SET status = r.status, phase = r.phase, resource_version = r.rv
         FROM jsonb_to_recordset($1::jsonb) AS r(uid uuid, status jsonb, phase text, rv bigint, expected bigint)
         WHERE t.uid = r.uid AND t.resource_version = r.expected`,
        [JSON.stringify(rows)],
      );
      if (r.rowCount !== rows.length) throw new Error(`bind: ${rows.length - (r.rowCount ?? 0)} owner status write(s) missed their version under the lock`);
    }
    if (removed.length) {
      const r = await client.query<ObjectRow>(`DELETE FROM tasks WHERE uid = ANY($1::uuid[]) RETURNING *`, [removed.map((t) => t.metadata.uid)]);
      for (const row of r.rows) {
        const obj = rowToObject(TASK, row);
        obj.metadata.resourceVersion = String(nextRv++);
        events.push({ resource_version: obj.metadata.resourceVersion, kind: "Task", namespace: row.namespace, name: row.name, type: "DELETED", object: obj });
      }
    }
    if (inserts.length) {
      const rows = inserts.map((t) => ({
        uid: t.metadata.uid,
        namespace: t.metadata.namespace,
        name: t.metadata.name,
        resource_version: t.metadata.resourceVersion,
        generation: t.metadata.generation,
        labels: t.metadata.labels,
        annotations: t.metadata.annotations,
        owner_references: t.metadata.ownerReferences ?? [],
        finalizers: t.metadata.finalizers ?? [],
        creation_timestamp: t.metadata.creationTimestamp,
        spec: t.spec,
        status: t.status ?? {},
        ...extraColumns("Task", t),
      }));
      await client.query(
        `INSERT INTO tasks (uid, namespace, name, resource_version, generation, labels, annotations, owner_references, finalizers,
                            creation_timestamp, spec, status, phase, node_name, owner_uid, attempt)
         SELECT uid, namespace, name, resource_version, generation, labels, annotations, owner_references, finalizers,
                creation_timestamp, spec, status, phase, node_name, owner_uid, attempt
         FROM jsonb_to_recordset($1::jsonb) AS r(uid uuid, namespace text, name text, resource_version bigint, generation int,
              labels jsonb, annotations jsonb, owner_references jsonb, finalizers jsonb, creation_timestamp timestamptz,
              spec jsonb, status jsonb, phase text, node_name text, owner_uid uuid, attempt int)`,
        [JSON.stringify(rows)],
      );
      for (const t of inserts) {
        events.push({ resource_version: t.metadata.resourceVersion, kind: "Task", namespace: t.metadata.namespace!, name: t.metadata.name, type: "ADDED", object: t });
      }
    }
    if (events.length) {
      await client.query(
        `INSERT INTO watch_events (resource_version, kind, namespace, name, type, object)
         SELECT resource_version::bigint, kind, namespace, name, type, object
         FROM jsonb_to_recordset($1::jsonb) AS e(resource_version text, kind text, namespace text, name text, type text, object jsonb)`,
        [JSON.stringify(events)],
      );
      await client.query(`SELECT pg_notify('${WATCH_CHANNEL}', $1)`, [events[events.length - 1]!.resource_version]);
    }
    await client.query("COMMIT");
    return outcomes;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

function checkGroup(
  g: BindGroup,
  nodes: Map<string, NodeRow>,
  quota: { cpu?: number; memoryMiB?: number; gpu?: number; tasks?: number } | undefined,
  used: Usage,
): string | undefined {
  const add = new Map<string, { cpu: number; mem: number; gpu: number; load: number }>();
  let cpu = 0;
  let mem = 0;
  let gpu = 0;
  for (const t of g.tasks) {
    const name = t.spec.nodeName as string;
    const n = nodes.get(name);
    if (!n) return `node ${name} no longer exists`;
    const ready = n.phase !== "NotReady" && (n.status?.conditions?.find((c) => c.type === "Ready")?.status ?? "True") === "True";
    if (!ready) return `node ${name} is not Ready`;
    if (n.spec?.unschedulable) return `node ${name} is cordoned`;
    const r = t.spec.resources ?? {};
    const a = add.get(name) ?? { cpu: 0, mem: 0, gpu: 0, load: 0 };
    a.cpu += num(r.cpu);
    a.mem += num(r.memoryMiB);
    a.gpu += num(r.gpu);
    a.load += num(t.metadata.annotations[TASK_LOAD_ANNOTATION]);
    add.set(name, a);
    cpu += num(r.cpu);
    mem += num(r.memoryMiB);
    gpu += num(r.gpu);
  }
  for (const [name, a] of add) {
    const n = nodes.get(name)!;
    const cap = n.spec?.capacity ?? {};
    if (a.cpu > 0 && n.cpu + a.cpu > num(cap.cpu) + 1e-9) return `node ${name}: insufficient cpu`;
    if (a.mem > 0 && n.mem + a.mem > num(cap.memoryMiB) + 1e-9) return `node ${name}: insufficient memory`;
    if (a.gpu > 0 && n.gpu + a.gpu > num(cap.gpu) + 1e-9) return `node ${name}: insufficient gpu`;
    const loadCap = num(cap.gpu) > 0 ? num(cap.gpu) : 1;
    if (a.load > 0 && n.load + a.load > loadCap + 1e-9) return `node ${name}: load would exceed ${loadCap}`;
  }
  if (quota) {
    if (quota.tasks !== undefined && used.tasks + g.tasks.length > quota.tasks) return `quota: tasks ${used.tasks + g.tasks.length} > ${quota.tasks}`;
    if (quota.cpu !== undefined && cpu > 0 && used.cpu + cpu > quota.cpu + 1e-9) return `quota: cpu ${used.cpu + cpu} > ${quota.cpu}`;
    if (quota.memoryMiB !== undefined && mem > 0 && used.mem + mem > quota.memoryMiB + 1e-9) return `quota: memory ${used.mem + mem} > ${quota.memoryMiB}`;
    if (quota.gpu !== undefined && gpu > 0 && used.gpu + gpu > quota.gpu + 1e-9) return `quota: gpu ${used.gpu + gpu} > ${quota.gpu}`;
  }
  return undefined;
}
