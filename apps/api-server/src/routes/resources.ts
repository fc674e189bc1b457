import { Router, type NextFunction, type Request, type Response } from "express";
import { API_PREFIX, lookupKind, type KindInfo } from "@eiaas/api";
import { dependentKinds, type ChangeFeed, type ObjectStore, type StoredObject } from "@eiaas/db";
import { authorize, peerVisible, visible, type Access, type ModelRefs, type Verb } from "../http/authz.js";
import { parseDeleteOptions, type DeleteOptions } from "../http/delete-options.js";
import { APPLY_MEDIA_TYPES } from "../http/json-body.js";
import { fieldManagerOf } from "../resources/ownership.js";
import { ApiError, notFound } from "../http/errors.js";
import { parseSelectors } from "../http/selectors.js";
import { listSemantics } from "../http/list-semantics.js";
import { peerTaskView, presentTo } from "../http/views.js";
import type { PatchType, ResourceService } from "../resources/service.js";
import { isNonNegativeInt64, type UnknownFields } from "../resources/validate.js";
import { parseIncludeObject, tableContentType, tableVersion, toTable } from "../table.js";
import { serveWatch } from "./watch.js";

export interface ResourceRouteDeps {
  service: ResourceService;
  store: ObjectStore;
  feed: ChangeFeed;
  /** Which Models agents may read (their node's tasks'). */
  models: ModelRefs;
  /** Watch bookmark period (tests shorten it). Default 10 s. */
  bookmarkIntervalMs?: number;
  /** Hears of server-side failures of a watch stream already answered. */
  onInternal: (err: unknown) => void;
}

type Handler = (req: Request, res: Response) => Promise<void>;

function wrap(h: Handler) {
  return (req: Request, res: Response, next: NextFunction) => {
    h(req, res).catch(next);
  };
}

/**
 * The kind a path names. A namespaced kind under the cluster path is only a collection (the
 * all-namespaces list/watch); a cluster-scoped kind never appears under a namespace.
 */
function kindOf(plural: string, namespaced: boolean, collection = false): KindInfo {
  const kind = lookupKind(plural);
  if (!kind || kind.plural !== plural || (namespaced && !kind.namespaced) || (!namespaced && kind.namespaced && !collection)) {
    throw new ApiError("NotFound", `the server could not find the requested resource (${plural})`);
  }
  return kind;
}

/** A path parameter (Express 5 types them as string | string[]). */
export function param(req: Request, name: string): string {
  const v = req.params[name];
  return Array.isArray(v) ? v.join("/") : (v ?? "");
}

function flag(v: unknown): boolean {
  return v === "true" || v === "1" || v === "";
}

function isDryRun(req: Request): boolean {
  const d = req.query.dryRun;
  if (d === undefined) return false;
  if (d === "All" || (Array.isArray(d) && d.every((x) => x === "All"))) return true;
  throw new ApiError("BadRequest", `dryRun: unsupported value "${String(d)}" (only "All")`);
}

/**
 * The `fieldValidation` of a write and where its warnings go. Absent means Strict: unlike
 * kube-apiserver (Warn), a misspelt field of a workload is refused rather than dropped, so that
 * what is planned is what the client meant (kubectl sends Strict anyway).
 */
function fieldValidationOf(req: Request): UnknownFields {
  const v = req.query.fieldValidation;
  if (v === undefined || v === "Strict") return { mode: "Strict" };
  if (v === "Warn" || v === "Ignore") return { mode: v, warnings: [] };
  throw new ApiError("BadRequest", `fieldValidation: invalid value "${String(v)}": must be one of Ignore, Warn, Strict`);
}

/** Kubernetes' warning headers (code 299), one per warning. */
function sendWarnings(res: Response, unknown: UnknownFields): void {
  const warnings = [...new Set(unknown.warnings ?? [])];
  if (warnings.length > 0) res.setHeader("Warning", warnings.map((w) => `299 - ${JSON.stringify(w)}`));
}

function parseLimit(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (!isNonNegativeInt64(v)) throw new ApiError("BadRequest", `limit: invalid value "${String(v)}": must be a non-negative 64-bit integer`);
  return Number(v);
}

/** Longest watch a client may ask for: what a Node timer holds (~24 days); longer ones fire at once. */
const MAX_WATCH_TIMEOUT_SECONDS = Math.floor(2 ** 31 / 1000) - 1;

function patchTypeOf(req: Request): PatchType | "apply" {
  const ct = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (ct === "application/merge-patch+json") return "merge";
  if (ct === "application/json-patch+json") return "json";
  if (APPLY_MEDIA_TYPES.has(ct)) return "apply";
  throw new ApiError(
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got "${ct}")`,
  );
}

/** `force` of a patch: only an apply may force (kube-apiserver answers 422 otherwise). */
function forceOf(req: Request, apply: boolean): boolean {
  const v = req.query.force;
  if (v === undefined) return false;
  if (v !== "true" && v !== "false") throw new ApiError("BadRequest", `force: invalid value "${String(v)}": must be true or false`);
  if (v === "true" && !apply) {
    throw new ApiError("Invalid", "PatchOptions is invalid: force: Invalid value: true: may not be specified for non-apply patch", {
      kind: "PatchOptions",
      causes: [{ field: "force", reason: "FieldValueInvalid", message: "may not be specified for non-apply patch" }],
    });
  }
  return v === "true";
}

/** Who writes: `fieldManager`, else the User-Agent's product (see ownership.ts). */
function managerOf(req: Request, apply = false): string {
  return fieldManagerOf(req.query.fieldManager, req.headers["user-agent"], apply);
}

function requireJson(req: Request): void {
  const ct = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (ct !== "application/json") {
    throw new ApiError("UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json (got "${ct || "none"}")`);
  }
}

/** Sends one object as `access` may see it, or a one-row Table when the client prints server-side. */
function sendObject(req: Request, res: Response, kind: KindInfo, access: Access, stored: StoredObject, code = 200): void {
  const obj = presentTo(access, stored);
  const table = req.method === "GET" ? tableVersion(req.headers.accept) : undefined;
  if (table) {
    res.status(code).type(tableContentType(table)).send(JSON.stringify(toTable(kind, [obj], { version: table, includeObject: parseIncludeObject(req.query.includeObject) ?? "Metadata" })));
    return;
  }
  res.status(code).type("application/json").send(JSON.stringify(obj));
}

/**
 * The generic REST surface of design.md §3 for every kind: list (selectors, paging), watch, get,
 * create, replace, merge/JSON patch, delete, and the /status subresource. Handlers authorize,
 * parse, delegate to ResourceService and format — nothing else.
 */
export function resourceRouter(deps: ResourceRouteDeps): Router {
  const r = Router();
  const { service } = deps;

  const authorizeReq = (req: Request, verb: Verb, kind: KindInfo, ns: string | undefined, sub?: "status"): Access =>
    authorize(req.principal!, verb, kind, ns, sub, deps.models);

  /**
   * Orphaning hands a workload's Tasks (a Model's ModelProfiles) to the caller: they stay, owned
   * by nothing. Only a caller that may delete them afterwards may orphan them — a tenant may not
   * delete Tasks, and orphaned Tasks it could not stop would run (and hold capacity) for ever.
   */
  const authorizeOrphan = (req: Request, kind: KindInfo, ns: string | undefined, options: Pick<DeleteOptions, "propagationPolicy">): void => {
    if (options.propagationPolicy !== "Orphan") return;
    for (const dep of dependentKinds(kind)) {
      try {
        authorizeReq(req, "delete", dep, ns);
      } catch (err) {
        if (!(err instanceof ApiError) || err.reason !== "Forbidden") throw err;
        throw new ApiError("Forbidden", `propagationPolicy Orphan would leave ${dep.plural} of ${kind.plural} that this token cannot delete: ${err.message}`);
      }
    }
  };

  const getVisible = async (kind: KindInfo, ns: string | undefined, name: string, access: Access): Promise<StoredObject> => {
    const obj = await service.get(kind, ns, name);
    if (!visible(access, obj)) throw notFound(kind.plural, name);
    return obj;
  };

  const list: (namespaced: boolean) => Handler = (namespaced) => async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced, true);
    const watching = flag(req.query.watch);
    const access = authorizeReq(req, watching ? "watch" : "list", kind, ns);
    const { sendInitialEvents } = listSemantics(req.query, kind.kind, watching);
    const selectors = parseSelectors(req.query, kind);
    if (access.nodeName !== undefined) selectors.fields.push({ field: "spec.nodeName", value: access.nodeName, negate: false });
    if (access.name !== undefined) selectors.fields.push({ field: "metadata.name", value: access.name, negate: false });
    const namespace = ns ?? access.namespace;
    if (watching) {
      const timeout = req.query.timeoutSeconds;
      await serveWatch(req, res, deps, {
        kind,
        ...(namespace !== undefined ? { namespace } : {}),
        access,
        selectors,
        ...(typeof req.query.resourceVersion === "string" ? { resourceVersion: req.query.resourceVersion } : {}),
        allowBookmarks: flag(req.query.allowWatchBookmarks),
        sendInitialEvents,
        ...(typeof timeout === "string" && /^\d+$/.test(timeout) ? { timeoutSeconds: Math.min(Number(timeout), MAX_WATCH_TIMEOUT_SECONDS) } : {}),
        ...(deps.bookmarkIntervalMs !== undefined ? { bookmarkIntervalMs: deps.bookmarkIntervalMs } : {}),
        onError: deps.onInternal,
      });
      return;
    }
    const limit = parseLimit(req.query.limit);
    const listed = await service.list(kind, {
      ...(namespace !== undefined ? { namespace } : {}),
      labels: selectors.labels,
      fields: selectors.fields,
      ...(limit !== undefined ? { limit } : {}),
      ...(typeof req.query.continue === "string" && req.query.continue ? { continue: req.query.continue } : {}),
    });
    const metadata = { resourceVersion: listed.resourceVersion, ...(listed.continue ? { continue: listed.continue } : {}) };
    // What the selectors cannot say (an agent's Models) is filtered here: a page may come out short.
    const items = (access.model ? listed.items.filter((o) => visible(access, o)) : listed.items).map((o) => presentTo(access, o));
    const table = tableVersion(req.headers.accept);
    if (table) {
      const t = toTable(kind, items, { version: table, listMeta: metadata, includeObject: parseIncludeObject(req.query.includeObject) ?? "Metadata" });
      res.type(tableContentType(table)).send(JSON.stringify(t));
      return;
    }
    res.type("application/json").send(JSON.stringify({ apiVersion: "eiaas.io/v1alpha1", kind: `${kind.kind}List`, metadata, items }));
  };

  const create: (namespaced: boolean) => Handler = (namespaced) => async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced, true);
    if (!namespaced && kind.namespaced) throw new ApiError("MethodNotAllowed", `create ${kind.plural} in a namespace: POST ${API_PREFIX}/namespaces/{namespace}/${kind.plural}`);
    const access = authorizeReq(req, "create", kind, ns);
    requireJson(req);
    const fieldValidation = fieldValidationOf(req);
    const obj = await service.create(kind, ns, req.body, { dryRun: isDryRun(req), fieldValidation, planPreview: flag(req.query.planPreview), fieldManager: managerOf(req) });
    sendWarnings(res, fieldValidation);
    sendObject(req, res, kind, access, obj, 201);
  };

  const get: (namespaced: boolean, sub?: "status") => Handler = (namespaced, sub) => async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced);
    const access = authorizeReq(req, "get", kind, ns, sub);
    const obj = await service.get(kind, ns, param(req, "name"));
    if (visible(access, obj)) return sendObject(req, res, kind, access, obj);
    if (peerVisible(access, obj)) return sendObject(req, res, kind, {}, peerTaskView(obj));
    throw notFound(kind.plural, param(req, "name"));
  };

  const replace: (namespaced: boolean, sub?: "status") => Handler = (namespaced, sub) => async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced);
    const access = authorizeReq(req, "update", kind, ns, sub);
    requireJson(req);
    const dryRun = isDryRun(req);
    if (sub === "status" && !dryRun) {
      sendObject(req, res, kind, access, await service.replaceStatusFromLatest(kind, ns, param(req, "name"), req.body, (o) => visible(access, o)));
      return;
    }
    const current = await getVisible(kind, ns, param(req, "name"), access);
    const fieldValidation = fieldValidationOf(req);
    const obj = sub
      ? await service.replaceStatus(kind, ns, param(req, "name"), req.body, { dryRun }, current)
      : await service.replace(kind, ns, param(req, "name"), req.body, { dryRun, fieldValidation, planPreview: flag(req.query.planPreview), fieldManager: managerOf(req) });
    sendWarnings(res, fieldValidation);
    sendObject(req, res, kind, access, obj);
  };

  const patch: (namespaced: boolean, sub?: "status") => Handler = (namespaced, sub) => async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced);
    const access = authorizeReq(req, "patch", kind, ns, sub);
    const type = patchTypeOf(req);
    const force = forceOf(req, type === "apply");
    const fieldValidation = fieldValidationOf(req);
    const write = { dryRun: isDryRun(req), fieldValidation, planPreview: flag(req.query.planPreview) };
    if (type === "apply") {
      if (sub) throw new ApiError("UnsupportedMediaType", "server-side apply of the /status subresource is not served: PUT or merge-patch the status");
      const fieldManager = managerOf(req, true);
      const name = param(req, "name");
      const existing = await service.get(kind, ns, name).catch((err: unknown) => {
        if (err instanceof ApiError && err.reason === "NotFound") return undefined;
        throw err;
      });
      if (existing && !visible(access, existing)) throw notFound(kind.plural, name);
      // An apply creates what does not exist: the caller must be one that may create it.
      if (!existing) authorizeReq(req, "create", kind, ns);
      const { object, created } = await service.apply(kind, ns, name, req.body, { ...write, fieldManager, force });
      sendWarnings(res, fieldValidation);
      sendObject(req, res, kind, access, object, created ? 201 : 200);
      return;
    }
    await getVisible(kind, ns, param(req, "name"), access);
    const obj = await service.patch(kind, ns, param(req, "name"), type, req.body, { ...write, fieldManager: managerOf(req), ...(sub ? { subresource: sub } : {}) });
    sendWarnings(res, fieldValidation);
    sendObject(req, res, kind, access, obj);
  };

  const remove: (namespaced: boolean) => Handler = (namespaced) => async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced);
    const access = authorizeReq(req, "delete", kind, ns);
    const options = parseDeleteOptions(req);
    authorizeOrphan(req, kind, ns, options);
    await getVisible(kind, ns, param(req, "name"), access);
    const obj = await service.delete(kind, ns, param(req, "name"), options);
    sendObject(req, res, kind, access, obj);
  };

  const removeCollection: (namespaced: boolean) => Handler = (namespaced) => async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced, true);
    if (!namespaced && kind.namespaced) {
      throw new ApiError("MethodNotAllowed", `delete ${kind.plural} by namespace: DELETE ${API_PREFIX}/namespaces/{namespace}/${kind.plural}`);
    }
    const access = authorizeReq(req, "deletecollection", kind, ns);
    const selectors = parseSelectors(req.query, kind);
    const { dryRun, propagationPolicy } = parseDeleteOptions(req);
    authorizeOrphan(req, kind, ns, { propagationPolicy });
    const deleted = await service.deleteCollection(
      kind,
      { ...(ns !== undefined ? { namespace: ns } : {}), labels: selectors.labels, fields: selectors.fields },
      (o) => visible(access, o),
      { dryRun, ...(propagationPolicy ? { propagationPolicy } : {}) },
    );
    const items = deleted.items.map((o) => presentTo(access, o));
    res.type("application/json").send(JSON.stringify({ apiVersion: "eiaas.io/v1alpha1", kind: `${kind.kind}List`, metadata: { resourceVersion: deleted.resourceVersion }, items }));
  };

  const nsBase = "/namespaces/:ns/:plural";
  r.get(nsBase, wrap(list(true)));
  r.post(nsBase, wrap(create(true)));
  r.get(`${nsBase}/:name`, wrap(get(true)));
  r.put(`${nsBase}/:name`, wrap(replace(true)));
  r.patch(`${nsBase}/:name`, wrap(patch(true)));
  r.delete(`${nsBase}/:name`, wrap(remove(true)));
  r.delete(nsBase, wrap(removeCollection(true)));
  r.get(`${nsBase}/:name/status`, wrap(get(true, "status")));
  r.put(`${nsBase}/:name/status`, wrap(replace(true, "status")));
  r.patch(`${nsBase}/:name/status`, wrap(patch(true, "status")));

  r.get("/:plural", wrap(list(false)));
  r.post("/:plural", wrap(create(false)));
  r.get("/:plural/:name", wrap(get(false)));
  r.put("/:plural/:name", wrap(replace(false)));
  r.patch("/:plural/:name", wrap(patch(false)));
  r.delete("/:plural/:name", wrap(remove(false)));
  r.delete("/:plural", wrap(removeCollection(false)));
  r.get("/:plural/:name/status", wrap(get(false, "status")));
  r.put("/:plural/:name/status", wrap(replace(false, "status")));
  r.patch("/:plural/:name/status", wrap(patch(false, "status")));
  return r;
}
