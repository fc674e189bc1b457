// Cluster-wide gauges, computed from Postgres (the source of truth) and the queues when
// Prometheus scrapes — nothing is kept between scrapes, so every replica answers the same.
import { SCHEDULE_QUEUE, nodeQueueName, type QueueBackend, type QueueDepth } from "@eiaas/queue";
import { gauge, withTimeout } from "@eiaas/telemetry";
import type pg from "pg";

export interface ClusterMetricsSource {
  pool: pg.Pool;
  queue: QueueBackend;
  /** Node queues reported individually (those with the most tasks waiting for their agent). Default 10. */
  topNodeQueues?: number;
  /** Time limit of each query on scrape. Default 2000 ms. */
  timeoutMs?: number;
}

let source: ClusterMetricsSource | undefined;

const DEPTH_STATES: Array<keyof QueueDepth> = ["waiting", "active", "delayed", "prioritized", "failed"];
const QUOTA_RESOURCES = [
  ["cpu", "cpu"],
  ["memoryMiB", "memory_mib"],
  ["gpu", "gpu"],
  ["tasks", "tasks"],
] as const;

async function rows<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> {
  const s = source!;
  return (await withTimeout(s.pool.query<R>(sql, values), s.timeoutMs ?? 2_000, "metrics query")).rows;
}

/**
 * Runs one gauge's collection on scrape: cleared first (series of deleted nodes or tenants
 * disappear), then filled; a dependency that is away leaves it empty rather than failing the
 * whole scrape.
 */
function collector(fill: (g: { set(labels: Record<string, string>, v: number): void }) => Promise<void>) {
  return async function (this: { reset(): void; set(labels: Record<string, string>, v: number): void }) {
    this.reset();
    if (!source) return;
    await fill(this).catch(() => undefined);
  };
}

gauge<"queue" | "state">({
  name: "eiaas_queue_depth",
  help: "Jobs per queue and state: the schedule queue and the node queues with the most tasks awaiting their agent",
  labelNames: ["queue", "state"],
  collect: collector(async (g) => {
    const s = source!;
    const top = await rows<{ node_name: string }>(
      `SELECT node_name FROM tasks WHERE phase IN ('Scheduled', 'Dispatched') AND node_name <> ''
       GROUP BY node_name ORDER BY count(*) DESC, node_name LIMIT $1`,
      [s.topNodeQueues ?? 10],
    );
    const queues = [SCHEDULE_QUEUE, ...top.map((r) => nodeQueueName(r.node_name))];
    const depths = await Promise.all(queues.map((q) => withTimeout(s.queue.depth(q), s.timeoutMs ?? 2_000, q).catch(() => undefined)));
    queues.forEach((q, i) => {
      const d = depths[i];
      if (d) for (const state of DEPTH_STATES) g.set({ queue: q, state }, d[state]);
    });
  }),
});

gauge<"condition">({
  name: "eiaas_nodes",
  help: "EdgeNodes by Ready condition (Ready, NotReady; Unknown before the first heartbeat)",
  labelNames: ["condition"],
  collect: collector(async (g) => {
    for (const c of ["Ready", "NotReady", "Unknown"]) g.set({ condition: c }, 0);
    for (const r of await rows<{ phase: string; n: string }>(`SELECT phase, count(*) AS n FROM edge_nodes GROUP BY phase`)) {
      const condition = r.phase === "Ready" || r.phase === "NotReady" ? r.phase : "Unknown";
      g.set({ condition }, Number(r.n));
    }
  }),
});

gauge<"phase">({
  name: "eiaas_tasks",
  help: "Tasks by phase",
  labelNames: ["phase"],
  collect: collector(async (g) => {
    for (const r of await rows<{ phase: string; n: string }>(`SELECT phase, count(*) AS n FROM tasks GROUP BY phase`)) g.set({ phase: r.phase || "Pending" }, Number(r.n));
  }),
});

interface TenantRow {
  name: string;
  quota: Record<string, unknown> | null;
  cpu: number;
  mem: number;
  gpu: number;
  tasks: string;
}

async function tenantRows(): Promise<TenantRow[]> {
  // What the binder counts against quota: every task not finished (kept per namespace by the tasks trigger).
  return rows<TenantRow>(
    `SELECT t.name, t.spec->'quota' AS quota, COALESCE(u.cpu, 0)::float8 AS cpu, COALESCE(u.memory_mib, 0)::float8 AS mem, COALESCE(u.gpu, 0)::float8 AS gpu, COALESCE(u.tasks, 0) AS tasks
     FROM tenants t LEFT JOIN namespace_usage u ON u.namespace = t.name`,
  );
}

gauge<"tenant" | "resource">(
  {
    name: "eiaas_tenant_usage",
    help: "Resources held by each tenant's unfinished tasks (cpu millicores, memory_mib, gpu, tasks)",
    labelNames: ["tenant", "resource"],
    collect: collector(async (g) => {
      for (const t of await tenantRows()) {
        const used: Record<string, number> = { cpu: Number(t.cpu), memory_mib: Number(t.mem), gpu: Number(t.gpu), tasks: Number(t.tasks) };
        for (const [, label] of QUOTA_RESOURCES) g.set({ tenant: t.name, resource: label }, used[label]!);
      }
    }),
  },
  { restricted: true },
);

gauge<"tenant" | "resource">(
  {
    name: "eiaas_tenant_quota",
    help: "Each tenant's hard quota per resource (only resources with a quota; compare with eiaas_tenant_usage)",
    labelNames: ["tenant", "resource"],
    collect: collector(async (g) => {
      for (const t of await tenantRows()) {
        for (const [field, label] of QUOTA_RESOURCES) {
          const v = t.quota?.[field];
          if (typeof v === "number") g.set({ tenant: t.name, resource: label }, v);
        }
      }
    }),
  },
  { restricted: true },
);

/**
 * Points the gauges at a scheduler's database pool and queues; returns the undo (so a stopped
 * scheduler's closed pool is not scraped). The last one bound wins: every instance reads the same
 * Postgres.
 */
export function bindClusterMetrics(s: ClusterMetricsSource): () => void {
  source = s;
  return () => {
    if (source === s) source = undefined;
  };
}
