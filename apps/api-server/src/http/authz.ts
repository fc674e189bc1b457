import { TRAINING_ENV, type KindInfo } from "@eiaas/api";
import type { Principal } from "@eiaas/db";
import { ApiError } from "./errors.js";

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete" | "deletecollection";

const READ: ReadonlySet<Verb> = new Set(["get", "list", "watch"]);

/** Roles of another node's tasks an agent may read (peer view) when its node runs the same workload: what its tasks send to. */
const PEER_ROLES: ReadonlySet<string> = new Set(["aggregator", "tail"]);

/** What a request may touch, decided before any object is read. */
export interface Access {
  /** Lists/watches must be narrowed to this namespace (a tenant's own). */
  namespace?: string;
  /** Lists/watches/gets of tasks must be narrowed to this node (an agent's own). */
  nodeName?: string;
  /** Only this object name is visible (an agent's own EdgeNode, a tenant's own Tenant). */
  name?: string;
  /**
   * An agent's GET of one Task bound to another node: allowed (in the peer view, http/views.ts)
   * when this says the task is a peer of one its node runs — of a workload with an unfinished task
   * on the agent's node, its aggregator or a tail, or a gossip participant whose neighbours (the
   * plan's, in its env) include the agent's node. How a participant finds its aggregator's
   * endpoint, a split plan's head its tail's, and a gossip peer its neighbours' (and no other
   * participant's).
   */
  peerTask?: (task: PeerCandidate) => boolean;
  /** Only Models this says are used (an agent: those its node's tasks run). */
  model?: (namespace: string, name: string) => boolean;
  /**
   * Answers show what tenants see of EdgeNodes: `status.runningTasks` (task names, workload names
   * in them, of every tenant on the node) replaced by its count (`presentTo`, http/views.ts).
   */
  tenantView?: boolean;
}

/** What {@link Access.peerTask} looks at of a task. */
export interface PeerCandidate {
  metadata: { namespace?: string; ownerReferences?: Array<{ uid: string; controller?: boolean }> };
  spec?: { role?: string; env?: Record<string, unknown> };
}

/** Whether a gossip participant's neighbours (set by the scheduler in its env) include `node`. */
function gossipNeighbourOf(task: PeerCandidate, node: string): boolean {
  const raw = task.spec?.env?.[TRAINING_ENV.neighbours];
  if (typeof raw !== "string") return false;
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === "object" && parsed !== null && Object.hasOwn(parsed, node);
  } catch {
    return false;
  }
}

/** Which Models the tasks bound to a node use (answered from the watch cache: http/model-refs.ts). */
export interface ModelRefs {
  nodeUsesModel(nodeName: string, namespace: string, model: string): boolean;
  /** Whether an unfinished task bound to the node belongs to the workload of that uid (in that namespace). */
  nodeRunsWorkload?(nodeName: string, namespace: string, ownerUid: string): boolean;
}

/**
 * RBAC of design.md §3: admin everything; tenant its own namespace (another namespace answers 404,
 * cluster-scoped writes 403, status is the controllers'), and EdgeNodes without the names of the
 * tasks on them, and ModelProfiles read-only; agent its own EdgeNode, its tasks' status and the
 * Models its tasks use (none without `models`) — its timings go through
 * `edgenodes/{node}/segment-timings`, not ModelProfiles; bootstrap tokens only register.
 */
export function authorize(p: Principal, verb: Verb, kind: KindInfo, namespace: string | undefined, subresource?: "status", models?: ModelRefs): Access {
  const forbidden = () =>
    new ApiError("Forbidden", `${p.role} token "${p.name}" cannot ${verb} ${kind.plural}${subresource ? `/${subresource}` : ""}${namespace ? ` in namespace "${namespace}"` : ""}`);
  switch (p.role) {
    case "admin":
      return {};
    case "tenant": {
      if (kind.namespaced) {
        if (namespace !== undefined && namespace !== p.tenant) {
          throw new ApiError("NotFound", `namespaces "${namespace}" not found`, { name: namespace, kind: "namespaces" });
        }
        // ModelProfiles hold what agents measured: a tenant reads its own, writes none (a figure
        // it made up would steer placements on nodes other tenants share).
        const readOnly = kind.kind === "Task" || kind.kind === "Event" || kind.kind === "ModelProfile";
        if (!READ.has(verb) && (readOnly || subresource === "status")) throw forbidden();
        return { namespace: p.tenant };
      }
      if (!READ.has(verb)) throw forbidden();
      if (kind.kind === "EdgeNode") return { tenantView: true };
      return kind.kind === "Tenant" ? { name: p.tenant } : {};
    }
    case "agent": {
      if (kind.kind === "EdgeNode") {
        if (READ.has(verb) || (subresource === "status" && (verb === "update" || verb === "patch"))) return { name: p.nodeName };
        throw forbidden();
      }
      if (kind.kind === "Task") {
        if (verb === "get") {
          const node = p.nodeName ?? "";
          return {
            nodeName: node,
            peerTask: (t) => {
              const owner = t.metadata.ownerReferences?.find((o) => o.controller);
              const peer = PEER_ROLES.has(t.spec?.role ?? "") || (t.spec?.role === "participant" && gossipNeighbourOf(t, node));
              return peer && owner !== undefined && (models?.nodeRunsWorkload?.(node, t.metadata.namespace ?? "", owner.uid) ?? false);
            },
          };
        }
        if (READ.has(verb) || (subresource === "status" && (verb === "update" || verb === "patch"))) return { nodeName: p.nodeName };
        throw forbidden();
      }
      if (kind.kind === "Model" && READ.has(verb)) {
        // Another node's models (every tenant's, in every namespace) look as if they did not exist.
        const node = p.nodeName ?? "";
        return { model: (ns, name) => models?.nodeUsesModel(node, ns, name) ?? false };
      }
      throw forbidden();
    }
    default:
      throw forbidden();
  }
}

/** Whether an object is visible under `access` (else the caller answers 404). */
export function visible(access: Access, obj: { metadata: { name: string; namespace?: string }; spec?: { nodeName?: string } }): boolean {
  if (access.namespace !== undefined && obj.metadata.namespace !== undefined && obj.metadata.namespace !== access.namespace) return false;
  if (access.name !== undefined && obj.metadata.name !== access.name) return false;
  if (access.nodeName !== undefined && obj.spec?.nodeName !== access.nodeName) return false;
  if (access.model && !access.model(obj.metadata.namespace ?? "", obj.metadata.name)) return false;
  return true;
}

/** Whether a GET of one object may answer it in the peer view ({@link Access.peerTask}) though {@link visible} says no. */
export function peerVisible(access: Access, obj: Parameters<NonNullable<Access["peerTask"]>>[0] & { kind?: string }): boolean {
  return access.peerTask !== undefined && obj.kind === "Task" && access.peerTask(obj);
}
