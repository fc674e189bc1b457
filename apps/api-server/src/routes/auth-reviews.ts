/**
 * `kubectl auth can-i` and `kubectl auth whoami`: SelfSubjectAccessReview and
 * SelfSubjectRulesReview (`authorization.k8s.io/v1`), SelfSubjectReview (`authentication.k8s.io/v1`),
 * answered by `authorize` — the same RBAC function every request goes through, so the answers
 * cannot drift from what is enforced.
 */
import { Router, type NextFunction, type Request, type Response } from "express";
import { GROUP, KINDS, lookupKind, type KindInfo } from "@eiaas/api";
import type { Principal } from "@eiaas/db";
import { authorize, type Verb } from "../http/authz.js";
import { ApiError, invalid } from "../http/errors.js";
import { CORE_RESOURCES } from "../core/core-resources.js";

const VERBS: readonly Verb[] = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];
/** The verbs of a `/status` subresource. */
const STATUS_VERBS: readonly Verb[] = ["get", "update", "patch"];

/** The eiaas kind a review's resource names (a core resource: the kind that stores it). */
function kindOfResource(group: string, resource: string): { kind: KindInfo; readOnly: boolean } | undefined {
  if (group === "" || group === undefined) {
    const core = CORE_RESOURCES.find((r) => r.plural === resource);
    return core ? { kind: core.stored, readOnly: true } : undefined;
  }
  if (group !== GROUP && group !== "*") return undefined;
  const kind = lookupKind(resource);
  return kind && kind.plural === resource ? { kind, readOnly: false } : undefined;
}

/** Whether `p` may `verb` the resource: `authorize` says, narrowed to one name when asked. */
export function allowed(p: Principal, verb: Verb, kind: KindInfo, namespace: string | undefined, subresource?: string, name?: string, readOnly = false): boolean {
  if (readOnly && verb !== "get" && verb !== "list" && verb !== "watch") return false;
  if (subresource !== undefined && subresource !== "" && (subresource !== "status" || !kind.hasStatus || !STATUS_VERBS.includes(verb))) return false;
  try {
    const access = authorize(p, verb, kind, kind.namespaced ? namespace : undefined, subresource === "status" ? "status" : undefined);
    if (name !== undefined && name !== "" && access.name !== undefined && access.name !== name) return false;
    return true;
  } catch (err) {
    if (err instanceof ApiError) return false;
    throw err;
  }
}

function userInfo(p: Principal) {
  return {
    username: `eiaas:${p.role}:${p.scope ? `${p.scope}:` : ""}${p.name}`,
    groups: [`eiaas:${p.role}s`, ...(p.tenant ? [`eiaas:tenant:${p.tenant}`] : []), ...(p.nodeName ? [`eiaas:node:${p.nodeName}`] : []), "system:authenticated"],
  };
}

const wrap = (h: (req: Request, res: Response) => void) => (req: Request, res: Response, next: NextFunction) => {
  try {
    h(req, res);
  } catch (err) {
    next(err);
  }
};

function bodyOf(req: Request, kind: string): Record<string, any> {
  const b = req.body;
  if (typeof b !== "object" || b === null || Array.isArray(b)) throw new ApiError("BadRequest", `the request body must be a JSON object (a ${kind})`);
  return b as Record<string, any>;
}

/** `/apis/authorization.k8s.io/v1`: the two self reviews. */
export function authorizationRouter(): Router {
  const r = Router();
  r.post(
    "/selfsubjectaccessreviews",
    wrap((req, res) => {
      const body = bodyOf(req, "SelfSubjectAccessReview");
      const attrs = body.spec?.resourceAttributes;
      if (body.spec?.nonResourceAttributes !== undefined && attrs === undefined) {
        res.status(201).json({ ...body, apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", status: { allowed: false, reason: "eiaas authorizes no non-resource URLs by token" } });
        return;
      }
      if (typeof attrs !== "object" || attrs === null)
        throw invalid("SelfSubjectAccessReview", undefined, [{ field: "spec.resourceAttributes", message: "Required value", reason: "FieldValueRequired" }]);
      const str = (v: unknown) => (typeof v === "string" ? v : undefined);
      const verb = str(attrs.verb) ?? "";
      const target = kindOfResource(str(attrs.group) ?? "", str(attrs.resource) ?? "");
      const ok =
        target !== undefined &&
        (VERBS as readonly string[]).includes(verb) &&
        allowed(req.principal!, verb as Verb, target.kind, str(attrs.namespace) || undefined, str(attrs.subresource), str(attrs.name), target.readOnly);
      res.status(201).json({
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        metadata: { creationTimestamp: null },
        spec: body.spec,
        status: {
          allowed: ok,
          ...(ok ? {} : { reason: target ? `${req.principal!.role} tokens may not ${verb} ${attrs.resource}` : `no resource "${attrs.resource}" in group "${attrs.group ?? ""}"` }),
        },
      });
    }),
  );
  r.post(
    "/selfsubjectrulesreviews",
    wrap((req, res) => {
      const body = bodyOf(req, "SelfSubjectRulesReview");
      const namespace = typeof body.spec?.namespace === "string" && body.spec.namespace !== "" ? body.spec.namespace : undefined;
      const p = req.principal!;
      const resourceRules: object[] = [];
      const rule = (group: string, resource: string, kind: KindInfo, readOnly: boolean, sub?: "status") => {
        const verbs = VERBS.filter((v) => allowed(p, v, kind, namespace, sub, undefined, readOnly));
        if (verbs.length > 0) resourceRules.push({ verbs, apiGroups: [group], resources: [sub ? `${resource}/${sub}` : resource] });
      };
      for (const k of KINDS) {
        rule(GROUP, k.plural, k, false);
        if (k.hasStatus) rule(GROUP, k.plural, k, false, "status");
      }
      for (const c of CORE_RESOURCES) rule("", c.plural, c.stored, true);
      res.status(201).json({
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectRulesReview",
        metadata: { creationTimestamp: null },
        spec: body.spec ?? {},
        status: { resourceRules, nonResourceRules: [], incomplete: false },
      });
    }),
  );
  return r;
}

/** `/apis/authentication.k8s.io/v1`: SelfSubjectReview (`kubectl auth whoami`). */
export function authenticationRouter(): Router {
  const r = Router();
  r.post(
    "/selfsubjectreviews",
    wrap((req, res) => {
      res.status(201).json({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview", metadata: { creationTimestamp: null }, status: { userInfo: userInfo(req.principal!) } });
    }),
  );
  return r;
}
