import { Router, type NextFunction, type Request, type Response } from "express";
import { API_VERSION, clientLatencyReport, kindInfo, modelProfileName, segmentTimingReport, type MeasuredClientLatency, type MeasuredSegment, type SegmentTiming, type StatusCause } from "@eiaas/api";
import { controllerOf, StoreError, type ObjectStore, type StoredObject } from "@eiaas/db";
import { ApiError, invalid, invalidFromZod, notFound } from "../http/errors.js";
import { mergeClientLatency, mergeSegments, type FigureWritePolicy } from "../measurements/merge.js";
import type { ObjectReader } from "../resources/reader.js";
import { nodeNameParam } from "./registration.js";
import { param } from "./resources.js";

const TASK = kindInfo("Task");
const MODEL = kindInfo("Model");
const PROFILE = kindInfo("ModelProfile");
const ISVC = kindInfo("InferenceService");
const NODE = kindInfo("EdgeNode");

export interface MeasurementRouteDeps {
  store: ObjectStore;
  reader: ObjectReader;
  /** When reported figures are written (see FigureWritePolicy). */
  policy?: FigureWritePolicy;
  /** A ModelProfile is written at most this often (a hostile agent's reports cost one write per model per period). Default 10 s. */
  profileWriteIntervalMs?: number;
}

function wrap(h: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => void h(req, res).catch(next);
}

/** A timing checked against the task it names: what it measured, and of which model. */
interface Resolved {
  namespace: string;
  model: StoredObject;
  segment: Omit<MeasuredSegment, "observedTime">;
}

/**
 * Measurements fed back into planning (issue 20, part 7; docs/dataplane.md):
 * - `POST .../edgenodes/{node}/segment-timings` — the node's agent (or an admin) reports what its
 *   serving tasks measured: per task and layer range, a median over a window and its count. Model,
 *   variant and exit come from the task, never from the agent; each named task must be bound to
 *   that node (403, `timings[i].task`, whether it exists elsewhere or not at all), each range inside
 *   the task's layers (422). Figures land in one ModelProfile per (model, node) in the task's
 *   namespace, owned by the Model.
 * - `POST .../namespaces/{ns}/inferenceservices/{name}/latency` — the client path reports a
 *   client's measured end-to-end latency: admins, the tenant of the namespace, or the client
 *   node's own agent. It lands in the service's `status.measured` beside the plan's prediction.
 */
export function measurementRouter(deps: MeasurementRouteDeps): Router {
  const r = Router();
  const policy = deps.policy ?? {};
  r.post(
    "/edgenodes/:name/segment-timings",
    wrap((req, res) => reportSegmentTimings(deps, policy, req, res)),
  );
  r.post(
    "/namespaces/:ns/inferenceservices/:name/latency",
    wrap((req, res) => reportClientLatency(deps, policy, req, res)),
  );
  return r;
}

/** A node's segment timings, into one ModelProfile per (model, node). */
async function reportSegmentTimings(deps: MeasurementRouteDeps, policy: NonNullable<MeasurementRouteDeps["policy"]>, req: Request, res: Response): Promise<void> {
  const p = req.principal!;
  const node = nodeNameParam(param(req, "name"));
  if (p.role !== "admin" && !(p.role === "agent" && p.nodeName === node)) {
    throw new ApiError("Forbidden", `${p.role} token "${p.name}" cannot report timings for node "${node}"`);
  }
  const parsed = segmentTimingReport.safeParse(req.body ?? {});
  if (!parsed.success) throw invalidFromZod("SegmentTimingReport", node, parsed.error);
  const resolved = await resolveTimings(deps.reader, node, parsed.data.timings);
  // The profiles name the node as an owner too: they go with it (an admin may report for any name).
  const nodeObject = await deps.reader.get(NODE, undefined, node);
  if (!nodeObject) throw notFound("edgenodes", node);
  const now = new Date();
  const groups = new Map<string, Resolved[]>();
  for (const t of resolved) {
    const key = `${t.namespace}/${t.model.metadata.name}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  let written = 0;
  let unchanged = 0;
  let deferred = 0;
  for (const list of groups.values()) {
    const outcome = await writeProfile(
      deps,
      nodeObject,
      list[0]!.model,
      list.map((t) => t.segment),
      now,
      policy,
    );
    if (outcome === "written") written++;
    else if (outcome === "deferred") deferred++;
    else unchanged++;
  }
  res.status(200).json({ apiVersion: API_VERSION, kind: "SegmentTimingReportResult", profiles: { written, unchanged, deferred } });
}

/** A client's measured end-to-end latency, into the service's `status.measured` (retried over the scheduler's writes). */
async function reportClientLatency(deps: MeasurementRouteDeps, policy: NonNullable<MeasurementRouteDeps["policy"]>, req: Request, res: Response): Promise<void> {
  const p = req.principal!;
  const ns = param(req, "ns");
  const name = param(req, "name");
  const forbidden = () => new ApiError("Forbidden", `${p.role} token "${p.name}" cannot report latency for inferenceservices "${name}" in namespace "${ns}"`);
  if (p.role === "tenant" && p.tenant !== ns) throw new ApiError("NotFound", `namespaces "${ns}" not found`, { name: ns, kind: "namespaces" });
  if (p.role !== "admin" && p.role !== "tenant" && p.role !== "agent") throw forbidden();
  const parsed = clientLatencyReport.safeParse(req.body ?? {});
  if (!parsed.success) throw invalidFromZod("ClientLatencyReport", name, parsed.error);
  const report = parsed.data;
  // An agent speaks for its own node as a client, and learns nothing of services it is no client of.
  if (p.role === "agent" && p.nodeName !== report.client) throw forbidden();
  for (let attempt = 0; ; attempt++) {
    const current = attempt === 0 ? await deps.reader.get(ISVC, ns, name) : await deps.store.get(ISVC, ns, name);
    const plans: any[] = current?.status?.plan?.clients ?? [];
    const plan = plans.find((c) => c.client === report.client);
    if (p.role === "agent" && !plan) throw forbidden();
    if (!current) throw notFound("inferenceservices", name);
    if (!plan) throw invalid("ClientLatencyReport", name, [{ field: "client", reason: "FieldValueInvalid", message: `"${report.client}" is not a planned client of the service` }]);
    const revision = Number(current.status?.planRevision ?? 0);
    if (report.planRevision !== undefined && report.planRevision !== revision) {
      throw new ApiError("Conflict", `the report is of plan revision ${report.planRevision}; the service is at revision ${revision}`, {
        name,
        kind: "inferenceservices",
        causes: [{ field: "planRevision", reason: "FieldValueInvalid", message: `must be the current plan revision (${revision})` }],
      });
    }
    const figure: Omit<MeasuredClientLatency, "observedTime"> = {
      client: plan.client,
      architecture: plan.architecture,
      split: plan.split,
      ...(plan.headNode !== undefined ? { headNode: plan.headNode } : {}),
      ...(plan.tailNode !== undefined ? { tailNode: plan.tailNode } : {}),
      variant: plan.variant,
      exitAfterLayer: plan.exitAfterLayer,
      latencyMs: report.latencyMs,
      count: report.count,
      ...(typeof plan.predicted?.latencyMs === "number" ? { predictedMs: plan.predicted.latencyMs } : {}),
    };
    const { measured, changed } = mergeClientLatency(current.status?.measured ?? [], figure, new Set(plans.map((c) => c.client)), new Date(), policy);
    try {
      if (changed) await deps.store.updateStatus(ISVC, current, { ...(current.status ?? {}), measured });
    } catch (err) {
      // The scheduler wrote the status meanwhile: merge into what it wrote.
      if (err instanceof StoreError && err.reason === "Conflict" && attempt < 4) continue;
      throw err;
    }
    res
      .status(200)
      .json({ apiVersion: API_VERSION, kind: "ClientLatencyReportResult", written: changed, predictedMs: figure.predictedMs ?? null, measuredMs: report.latencyMs, planRevision: revision });
    return;
  }
}

/**
 * Checks every timing against the task it names (read from the watch cache): bound to `node`,
 * owned by an InferenceService whose model exists, the range inside the task's layers. All
 * refusals are gathered: 403 when any names a task not on the node, else 422.
 */
async function resolveTimings(reader: ObjectReader, node: string, timings: readonly SegmentTiming[]): Promise<Resolved[]> {
  const forbidden: StatusCause[] = [];
  const invalidCauses: StatusCause[] = [];
  const out: Resolved[] = [];
  for (const [i, t] of timings.entries()) {
    const field = `timings[${i}]`;
    const task = await reader.get(TASK, t.namespace, t.task);
    // Absent and bound elsewhere answer alike: an agent learns nothing of other nodes' tasks.
    if (!task || task.spec?.nodeName !== node) {
      forbidden.push({ field: `${field}.task`, reason: "FieldValueForbidden", message: `task "${t.namespace}/${t.task}" is not a task of node "${node}"` });
      continue;
    }
    const owner = controllerOf(task);
    const workload = owner?.kind === "InferenceService" ? await reader.get(ISVC, t.namespace, owner.name) : null;
    const model = workload && workload.metadata.uid === owner!.uid ? await reader.get(MODEL, t.namespace, workload.spec.model) : null;
    const layers = task.spec.layers as { from: number; to: number } | undefined;
    const exit = Number(task.spec.env?.EIAAS_EXIT_AFTER_LAYER);
    if (!model || !layers || !Number.isInteger(exit)) {
      invalidCauses.push({ field: `${field}.task`, reason: "FieldValueInvalid", message: `task "${t.namespace}/${t.task}" serves no layers of a model that exists` });
      continue;
    }
    if (t.fromLayer > t.toLayer) {
      invalidCauses.push({ field: `${field}.toLayer`, reason: "FieldValueInvalid", message: `must not be less than fromLayer (${t.fromLayer})` });
      continue;
    }
    if (t.fromLayer < layers.from || t.toLayer > layers.to) {
      const bad = t.fromLayer < layers.from ? "fromLayer" : "toLayer";
      invalidCauses.push({ field: `${field}.${bad}`, reason: "FieldValueInvalid", message: `layers ${t.fromLayer}..${t.toLayer} are not all run by the task (it runs ${layers.from}..${layers.to})` });
      continue;
    }
    out.push({
      namespace: t.namespace,
      model,
      segment: { variant: task.spec.env?.EIAAS_VARIANT ?? "base", exitAfterLayer: exit, fromLayer: t.fromLayer, toLayer: t.toLayer, medianMs: t.medianMs, count: t.count },
    });
  }
  if (forbidden.length) {
    throw new ApiError("Forbidden", `the report names ${forbidden.length} task(s) that are not tasks of node "${node}"`, { name: node, kind: "edgenodes", causes: forbidden });
  }
  if (invalidCauses.length) throw invalid("SegmentTimingReport", node, invalidCauses);
  return out;
}

type OwnerReference = NonNullable<StoredObject["metadata"]["ownerReferences"]>[number];

/**
 * The owners of a model's profile on a node: the Model (its controller) and the EdgeNode, so the
 * delete of either takes the profile with it (ownership.ts).
 */
function profileOwners(model: StoredObject, node: StoredObject): OwnerReference[] {
  return [
    { apiVersion: API_VERSION, kind: "Model", name: model.metadata.name, uid: model.metadata.uid, controller: true, blockOwnerDeletion: true },
    { apiVersion: API_VERSION, kind: "EdgeNode", name: node.metadata.name, uid: node.metadata.uid },
  ];
}

/**
 * Merges a model's figures into its ModelProfile on `nodeObject` (created, owned by the model and
 * the node, if missing; a profile written before it named its node gets that owner reference).
 */
async function writeProfile(
  deps: MeasurementRouteDeps,
  nodeObject: StoredObject,
  model: StoredObject,
  segments: ReadonlyArray<Omit<MeasuredSegment, "observedTime">>,
  now: Date,
  policy: FigureWritePolicy,
): Promise<"written" | "unchanged" | "deferred"> {
  const node = nodeObject.metadata.name;
  const ns = model.metadata.namespace!;
  const name = modelProfileName(model.metadata.name, node);
  const generation = model.metadata.generation;
  for (let attempt = 0; ; attempt++) {
    const current = attempt === 0 ? await deps.reader.get(PROFILE, ns, name) : await deps.store.get(PROFILE, ns, name);
    // A profile of an earlier model under the same name (not yet collected) is not this model's.
    const ours = current && controllerOf(current)?.uid === model.metadata.uid ? current : null;
    const sameGeneration = ours?.status?.modelGeneration === generation;
    const stored: MeasuredSegment[] = sameGeneration ? (ours!.status?.segments ?? []) : [];
    if (ours && sameGeneration && recentlyWritten(stored, now, deps.profileWriteIntervalMs ?? 10_000)) return "deferred";
    const { segments: merged, changed } = mergeSegments(stored, segments, now, policy);
    if (current && !changed && sameGeneration) return "unchanged";
    const status = { modelGeneration: generation, segments: merged };
    try {
      if (ours && !ownedByNode(ours, nodeObject)) {
        // Written before profiles named their node: the owner reference first, then the figures.
        await deps.store.update(PROFILE, ours, { ...ours, metadata: { ...ours.metadata, ownerReferences: profileOwners(model, nodeObject) } });
        continue;
      }
      if (!current) {
        await deps.store.create(PROFILE, {
          apiVersion: API_VERSION,
          kind: "ModelProfile",
          metadata: {
            name,
            namespace: ns,
            labels: { "eiaas.io/model": labelSafe(model.metadata.name), "eiaas.io/node": labelSafe(node) },
            ownerReferences: profileOwners(model, nodeObject),
          },
          spec: { model: model.metadata.name, nodeName: node },
          status,
        });
      } else if (!ours) {
        // The leftover of a deleted model of the same name: this model's profile takes its place.
        await deps.store.delete(PROFILE, current);
        continue;
      } else {
        await deps.store.updateStatus(PROFILE, current, { ...(current.status ?? {}), ...status });
      }
      return "written";
    } catch (err) {
      if (err instanceof StoreError && (err.reason === "Conflict" || err.reason === "AlreadyExists" || err.reason === "NotFound") && attempt < 4) continue;
      throw err;
    }
  }
}

/** Whether the profile names this node (by uid) among its owners. */
function ownedByNode(profile: StoredObject, node: StoredObject): boolean {
  return profile.metadata.ownerReferences?.some((o) => o.kind === "EdgeNode" && o.uid === node.metadata.uid) ?? false;
}

/** Whether the profile was written less than `intervalMs` ago (its newest figure's time). */
function recentlyWritten(segments: readonly MeasuredSegment[], now: Date, intervalMs: number): boolean {
  let newest = -Infinity;
  for (const s of segments) newest = Math.max(newest, Date.parse(s.observedTime) || -Infinity);
  return now.getTime() - newest < intervalMs;
}

/** A name as a label value (≤ 63 characters). */
function labelSafe(name: string): string {
  return name.length <= 63 ? name : name.slice(0, 63).replace(/[^A-Za-z0-9]+$/, "");
}
