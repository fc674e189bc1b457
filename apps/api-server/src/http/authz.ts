import type { KindInfo } from "@eiaas/api";
import type { Principal } from "@eiaas/db";
import { ApiError } from "./errors.js";

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete";

const READ: ReadonlySet<Verb> = new Set(["get", "list", "watch"]);

/** What a request may touch, decided before any object is read. */
export interface Access {
  /** Lists/watches must be narrowed to this namespace (a tenant's own). */
  namespace?: string;
  /** Lists/watches/gets of tasks must be narrowed to this node (an agent's own). */
  nodeName?: string;
  /** Only this object name is visible (an agent's own EdgeNode, a tenant's own Tenant). */
  name?: string;
}

/**
 * RBAC of DESIGN §3: admin everything; tenant its own namespace (another namespace answers 404,
 * cluster-scoped writes 403, status is the controllers'); agent its own EdgeNode and its tasks'
 * status; bootstrap tokens only register.
 */
export function authorize(p: Principal, verb: Verb, kind: KindInfo, namespace: string | undefined, subresource?: "status"): Access {
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
        const readOnly = kind.kind === "Task" || kind.kind === "Event";
        if (!READ.has(verb) && (readOnly || subresource === "status")) throw forbidden();
        return { namespace: p.tenant };
      }
      if (!READ.has(verb)) throw forbidden();
      return kind.kind === "Tenant" ? { name: p.tenant } : {};
    }
    case "agent": {
      if (kind.kind === "EdgeNode") {
        if (READ.has(verb) || (subresource === "status" && (verb === "update" || verb === "patch"))) return { name: p.nodeName };
        throw forbidden();
      }
      if (kind.kind === "Task") {
        if (READ.has(verb) || (subresource === "status" && (verb === "update" || verb === "patch"))) return { nodeName: p.nodeName };
        throw forbidden();
      }
      if (kind.kind === "Model" && READ.has(verb)) return {};
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
  return true;
}
