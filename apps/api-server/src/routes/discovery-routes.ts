import { Router, type NextFunction, type Request, type Response } from "express";
import { API_VERSION, GROUP, kindInfo } from "@eiaas/api";
import type { ObjectStore, StoredObject } from "@eiaas/db";
import { authorize } from "../http/authz.js";
import { ApiError, notFound } from "../http/errors.js";
import { currentSnapshot, endpointLatency, rankEndpoints, snapshotOf, type ClusterStateSource, type RankedEndpoint } from "../planning.js";
import { param } from "./resources.js";
import { serviceEntry } from "./service-entry.js";

const ISVC = kindInfo("InferenceService");
const MODEL = kindInfo("Model");
const NODE = kindInfo("EdgeNode");

/**
 * The running head task of `svc`'s current plan revision on `node` (a `serve` when the plan runs
 * the whole chain there), if any: where a client of a split plan sends its raw input (the head
 * forwards the cut tensor to its tail itself).
 */
function runningHead(tasks: readonly StoredObject[], svc: StoredObject, node: string): StoredObject | undefined {
  const revision = String(svc.status?.planRevision ?? "");
  return tasks.find(
    (t) =>
      t.metadata.namespace === svc.metadata.namespace &&
      t.spec?.nodeName === node &&
      (t.spec?.role === "head" || t.spec?.role === "serve") &&
      t.metadata.labels?.["eiaas.io/plan-revision"] === revision &&
      t.metadata.ownerReferences?.some((o) => o.uid === svc.metadata.uid && o.controller) &&
      t.status?.phase === "Running" &&
      typeof t.status?.endpoint === "string",
  );
}

function wrap(h: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => void h(req, res).catch(next);
}

function finite(ms: number): number {
  return Number.isFinite(ms) ? Math.round(ms * 1000) / 1000 : Number.MAX_SAFE_INTEGER;
}

/** The asking client's node (`?client=NODE`), which must exist. */
async function askingClient(deps: { store: ObjectStore }, req: Request): Promise<string> {
  const client = req.query.client;
  if (typeof client !== "string" || client === "") throw new ApiError("BadRequest", "client: the asking client's node name is required (?client=NODE)");
  if (!(await deps.store.get(NODE, undefined, client))) throw notFound("edgenodes", client);
  return client;
}

/** A service's endpoints ranked by the latency predicted from the asking client, its own entry marked. */
async function serviceEndpoints(deps: { store: ObjectStore; cluster: ClusterStateSource }, req: Request, res: Response): Promise<void> {
  const ns = param(req, "ns");
  authorize(req.principal!, "get", ISVC, ns);
  const svc = await deps.store.get(ISVC, ns, param(req, "name"));
  if (!svc) throw notFound("inferenceservices", param(req, "name"));
  const client = await askingClient(deps, req);
  const [state, model] = await Promise.all([deps.cluster.clusterState(), deps.store.get(MODEL, ns, svc.spec.model)]);
  const snapshot = snapshotOf(state);
  const items: RankedEndpoint[] = (svc.status?.endpoints ?? []).map((e: any) => ({
    node: e.node,
    ...(e.address ? { address: e.address } : {}),
    role: e.role,
    task: e.task,
    predicted: { latencyMs: finite(endpointLatency(snapshot, model, svc.status?.plan?.clients, client, e.node)) },
  }));
  // The client's own entry point in its plan, marked `entry`: its head when the plan splits on
  // a head (a tail takes the cut tensor, not the client's input; heads are not listed
  // otherwise), else its server. Ranked with the rest.
  const own = (svc.status?.plan?.clients as Array<{ client: string; headNode?: string; tailNode?: string; predicted: { latencyMs: number } }> | undefined)?.find((c) => c.client === client);
  let entry: RankedEndpoint | undefined;
  if (own?.headNode) {
    const head = runningHead(state.tasks, svc, own.headNode);
    // Priced as the tail of the same plan is (the plan's prediction on today's links); a
    // device-only plan (no tail) at its own prediction.
    const latencyMs = own.tailNode ? endpointLatency(snapshot, model, svc.status?.plan?.clients, client, own.tailNode) : own.predicted.latencyMs;
    if (head) entry = { node: own.headNode, address: head.status!.endpoint, role: head.spec.role, task: head.metadata.name, predicted: { latencyMs: finite(latencyMs) } };
  } else if (own?.tailNode) {
    entry = items.find((e) => e.node === own.tailNode && e.role === "serve");
  }
  const listed = entry ? [...items.filter((e) => e.task !== entry.task), { ...entry, entry: true }] : items;
  res.json({ apiVersion: API_VERSION, kind: "EndpointList", metadata: {}, items: rankEndpoints(listed) });
}

/**
 * Service discovery (design.md §3): a service's endpoints, or every Running service of a namespace
 * with a capability, ranked by the latency predicted from the asking client. Tenants see only their
 * own namespace (another answers 404, as everywhere).
 */
export function discoveryRoutes(deps: { store: ObjectStore; cluster: ClusterStateSource }): Router {
  const r = Router();
  const clientOf = (req: Request) => askingClient(deps, req);

  r.get(
    "/namespaces/:ns/inferenceservices/:name/endpoints",
    wrap((req, res) => serviceEndpoints(deps, req, res)),
  );

  // A client's entry point: where `eictl infer` sends its input (the start of the client's plan).
  r.get(
    "/namespaces/:ns/inferenceservices/:name/entry",
    wrap(async (req, res) => {
      const ns = param(req, "ns");
      const name = param(req, "name");
      authorize(req.principal!, "get", ISVC, ns);
      const svc = await deps.store.get(ISVC, ns, name);
      if (!svc) throw notFound("inferenceservices", name);
      const client = await clientOf(req);
      const plan = (svc.status?.plan?.clients ?? []).find((c: { client: string }) => c.client === client);
      if (!plan) {
        const why = svc.status?.plan ? `client ${client} is not in its plan` : `it has no plan yet (phase ${svc.status?.phase ?? "Pending"})`;
        throw new ApiError("NotFound", `inferenceservices "${name}" has no entry for ${client}: ${why}`, { name, group: GROUP, kind: "inferenceservices" });
      }
      const entry = await serviceEntry(deps.store, svc, plan);
      res.json({ apiVersion: API_VERSION, kind: "InferenceEntry", service: name, client, plan, entry });
    }),
  );

  r.get(
    "/namespaces/:ns/discovery",
    wrap(async (req, res) => {
      const ns = param(req, "ns");
      authorize(req.principal!, "list", ISVC, ns);
      const capability = req.query.capability;
      if (typeof capability !== "string" || capability === "") throw new ApiError("BadRequest", "capability: required (?capability=NAME)");
      const client = await clientOf(req);
      const [services, models, snapshot] = await Promise.all([
        deps.store.list(ISVC, { namespace: ns, fields: [{ field: "status.phase", value: "Running", negate: false }] }),
        deps.store.list(MODEL, { namespace: ns }),
        currentSnapshot(deps.cluster),
      ]);
      const byName = new Map(models.items.map((m) => [m.metadata.name, m]));
      const items: RankedEndpoint[] = [];
      for (const svc of services.items) {
        const model = byName.get(svc.spec.model) ?? null;
        if (!model?.spec.capabilities?.includes(capability)) continue;
        for (const e of svc.status?.endpoints ?? []) {
          items.push({
            node: e.node,
            ...(e.address ? { address: e.address } : {}),
            role: e.role,
            task: e.task,
            service: svc.metadata.name,
            predicted: { latencyMs: finite(endpointLatency(snapshot, model, svc.status?.plan?.clients, client, e.node)) },
          });
        }
      }
      res.json({ apiVersion: API_VERSION, kind: "EndpointList", metadata: {}, items: rankEndpoints(items) });
    }),
  );
  return r;
}
