import type pg from "pg";
import { kindInfo, type KindInfo } from "@eiaas/api";
import type { StoredObject } from "./codec.js";
import { listSnapshot } from "./list-snapshot.js";

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
const MODEL = kindInfo("Model");

/** The kinds a ClusterState is made of. */
export const CLUSTER_STATE_KINDS: readonly KindInfo[] = [NODE, TENANT, TASK, PROFILE, MODEL];

function byNamespaceAndName(a: StoredObject, b: StoredObject): number {
  const an = a.metadata.namespace ?? "";
  const bn = b.metadata.namespace ?? "";
  if (an !== bn) return an < bn ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/**
 * A ClusterState from the objects of one consistent view (an informer's store after a sync, or a
 * list), in (namespace, name) order whatever order the view holds them in: the planner breaks ties
 * by node order, and the same rows must give the same answer.
 */
export function clusterStateOf(resourceVersion: string, objects: (kind: KindInfo) => StoredObject[]): ClusterState {
  const sorted = (kind: KindInfo) => objects(kind).sort(byNamespaceAndName);
  return {
    resourceVersion,
    nodes: sorted(NODE),
    tenants: sorted(TENANT),
    tasks: sorted(TASK),
    profiles: sorted(PROFILE),
    modelGenerations: new Map(objects(MODEL).map((m) => [`${m.metadata.namespace}/${m.metadata.name}`, Number(m.metadata.generation)])),
  };
}

/**
 * The rows a Snapshot (design.md §5) is built from, listed in one snapshot: for a process without
 * an informer. The API server reads them from its watch cache (`ObjectCache.clusterState`), the
 * scheduler from its ClusterCache (cluster-cache.ts, live-snapshot.ts).
 */
export async function readClusterState(pool: pg.Pool): Promise<ClusterState> {
  const listed = await listSnapshot(pool, CLUSTER_STATE_KINDS);
  const byKind = new Map(listed.objects.map(([kind, objects]) => [kind.kind, objects]));
  return clusterStateOf(listed.resourceVersion.toString(), (kind) => byKind.get(kind.kind) ?? []);
}
