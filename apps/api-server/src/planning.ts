import { isKind, kindInfo, MEASUREMENT_MAX_AGE_MS, type ClientPlan, type KindInfo } from "@eiaas/api";
import { readClusterState, type ClusterState, type ObjectCache, type ObjectStore, type StoredObject } from "@eiaas/db";
import {
  buildSnapshot,
  compileModel,
  indexMeasurements,
  inferenceServiceStatus,
  networkPath,
  planInference,
  planTraining,
  predictClientLatency,
  trainingJobStatus,
  transferMs,
  type Snapshot,
} from "@eiaas/scheduling";
import type pg from "pg";

const MODEL = kindInfo("Model");

/**
 * Where planning reads the cluster from: the API server's watch cache (`ObjectCache`: a consistent
 * read, no query of the tables per request), or a list of the tables (`postgresClusterState`).
 */
export interface ClusterStateSource {
  clusterState(): Promise<ClusterState>;
}

/** The cluster listed from Postgres on each call: for an app without a watch cache. */
export function postgresClusterState(pool: pg.Pool): ClusterStateSource {
  return { clusterState: () => readClusterState(pool) };
}

/**
 * The watch cache's consistent read, Postgres when the cache cannot show it is current (as
 * `objectReader`): an outage then answers as the tables do, never with the cache's timeout.
 */
export function cachedClusterState(cache: ObjectCache, pool: pg.Pool): ClusterStateSource {
  return { clusterState: () => cache.clusterState().catch(() => readClusterState(pool)) };
}

/** The scheduler's view of the cluster as the source holds it now (see {@link snapshotOf}). */
export async function currentSnapshot(source: ClusterStateSource, exceptOwner?: string, defaultMaxPriority?: number): Promise<Snapshot> {
  return snapshotOf(await source.clusterState(), exceptOwner, defaultMaxPriority);
}

/**
 * The scheduler's view, built by the same snapshot builder from the same objects, with the same
 * measured timings (recent ModelProfiles of each model's current generation). `defaultMaxPriority`:
 * the priority cap of tenants without spec.maxPriority (EIAAS_DEFAULT_MAX_PRIORITY).
 */
export function snapshotOf(state: ClusterState, exceptOwner?: string, defaultMaxPriority?: number): Snapshot {
  const tasks = state.tasks
    .filter(isKind("Task"))
    .filter((t) => !["Succeeded", "Failed"].includes(t.status?.phase ?? "") && !(exceptOwner && t.metadata.ownerReferences?.some((o) => o.uid === exceptOwner)));
  const snapshot = buildSnapshot({
    nodes: state.nodes.filter(isKind("EdgeNode")),
    tenants: state.tenants.filter(isKind("Tenant")),
    tasks,
    ...(defaultMaxPriority !== undefined ? { defaultMaxPriority } : {}),
  });
  if (state.profiles.length) {
    snapshot.setMeasurements(
      indexMeasurements(state.profiles.filter(isKind("ModelProfile")), {
        nowMs: Date.now(),
        maxAgeMs: MEASUREMENT_MAX_AGE_MS,
        modelGeneration: (ns, model) => state.modelGenerations.get(`${ns}/${model}`),
      }),
    );
  }
  return snapshot;
}

/**
 * `?dryRun=All` on a workload: what the scheduler would decide now — planned from the same
 * snapshot builder over the same objects, nothing reserved, nothing stored.
 */
export function dryRunPlanner(source: ClusterStateSource, store: ObjectStore, defaultMaxPriority = 0) {
  return async (kind: KindInfo, obj: StoredObject): Promise<unknown> => {
    const snapshot = await currentSnapshot(source, obj.metadata.uid, defaultMaxPriority);
    const model = await store.get(MODEL, obj.metadata.namespace, obj.spec.model);
    const input = { metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace! }, spec: obj.spec };
    const options = { observedGeneration: obj.metadata.generation };
    if (kind.kind === "InferenceService") return inferenceServiceStatus(planInference(snapshot, input, model?.spec, { reserve: false }), options);
    return trainingJobStatus(planTraining(snapshot, input, model?.spec, { reserve: false }), options);
  };
}

export interface RankedEndpoint {
  node: string;
  address?: string;
  role: string;
  task: string;
  service?: string;
  predicted: { latencyMs: number };
  /** The asking client's own entry point in the service's plan (where it posts its input). */
  entry?: boolean;
}

/**
 * Latency a client would see through one of a service's serving nodes: its own plan's prediction
 * when that node serves it, else the full chain offloaded there (j = 0: upload the input, run every
 * layer on the server), priced by the planner's cost model.
 */
export function endpointLatency(snapshot: Snapshot, model: StoredObject | null, plan: ClientPlan[] | undefined, client: string, node: string): number {
  const own = plan?.find((c) => c.client === client && c.tailNode === node);
  const measured = model ? snapshot.measurementsOf(model.metadata.namespace!, model.metadata.name) : undefined;
  if (own && model) return predictClientLatency(snapshot, model.spec, own, measured) ?? own.predicted.latencyMs;
  if (!model) return Infinity;
  const chain = compileModel(model.spec).chains[0];
  const server = snapshot.nodes[snapshot.nodeIndex(node)];
  const path = networkPath(snapshot, client, node);
  if (!chain || !server || !path) return Infinity;
  return transferMs(chain.splitBytes[0]!, path.bandwidthMbps, path.rttMs) + chain.timing(server, measured?.get(node)).suffixT[0]!;
}

/** Sorts by predicted latency, then node name (stable, deterministic answers). */
export function rankEndpoints(items: RankedEndpoint[]): RankedEndpoint[] {
  return items.sort((a, b) => a.predicted.latencyMs - b.predicted.latencyMs || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}
