import { Router, type NextFunction, type Request, type Response } from "express";
import { API_PREFIX, lookupKind, type KindInfo } from "@eiaas/api";
import { dependentKinds, type ChangeFeed, type ObjectStore, type StoredObject } from "@eiaas/db";
import { authorize, peerVisible, visible, type Access, type ModelRefs, type Verb } from "../http/authz.js";
import { parseDeleteOptions, type DeleteOptions } from "../http/delete-options.js";
import { ApiError, notFound } from "../http/errors.js";
import { parseSelectors } from "../http/selectors.js";
import { listSemantics } from "../http/list-semantics.js";
import { peerTaskView, presentTo } from "../http/views.js";
import type { ResourceService } from "../resources/service.js";
import { parseIncludeObject, tableContentType, tableVersion, toTable } from "../table.js";
import { fieldValidationOf, flag, forceOf, isDryRun, managerOf, MAX_WATCH_TIMEOUT_SECONDS, parseLimit, patchTypeOf, requireJson, sendWarnings } from "./request-options.js";
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

/** Sends one object as `access` may see it, or a one-row Table when the client prints server-side. */
function sendObject(req: Request, res: Response, kind: KindInfo, access: Access, stored: StoredObject, code = 200): void {
  const obj = presentTo(access, stored);
  const table = req.method === "GET" ? tableVersion(req.headers.accept) : undefined;
  if (table) {
    res
      .status(code)
      .type(tableContentType(table))
      .send(JSON.stringify(toTable(kind, [obj], { version: table, includeObject: parseIncludeObject(req.query.includeObject) ?? "Metadata" })));
    return;
  }
  res.status(code).type("application/json").send(JSON.stringify(obj));
}

function authorizeReq(deps: ResourceRouteDeps, req: Request, verb: Verb, kind: KindInfo, ns: string | undefined, sub?: "status"): Access {
  return authorize(req.principal!, verb, kind, ns, sub, deps.models);
}

/**
 * Orphaning hands a workload's Tasks (a Model's ModelProfiles) to the caller: they stay, owned
 * by nothing. Only a caller that may delete them afterwards may orphan them — a tenant may not
 * delete Tasks, and orphaned Tasks it could not stop would run (and hold capacity) for ever.
 */
function authorizeOrphan(deps: ResourceRouteDeps, req: Request, kind: KindInfo, ns: string | undefined, options: Pick<DeleteOptions, "propagationPolicy">): void {
  if (options.propagationPolicy !== "Orphan") return;
  for (const dep of dependentKinds(kind)) {
    try {
      authorizeReq(deps, req, "delete", dep, ns);
    } catch (err) {
      if (!(err instanceof ApiError) || err.reason !== "Forbidden") throw err;
      throw new ApiError("Forbidden", `propagationPolicy Orphan would leave ${dep.plural} of ${kind.plural} that this token cannot delete: ${err.message}`);
    }
  }
}

async function getVisible(deps: ResourceRouteDeps, kind: KindInfo, ns: string | undefined, name: string, access: Access): Promise<StoredObject> {
  const obj = await deps.service.get(kind, ns, name);
  if (!visible(access, obj)) throw notFound(kind.plural, name);
  return obj;
}

function listHandler(deps: ResourceRouteDeps, namespaced: boolean): Handler {
  return async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced, true);
    const watching = flag(req.query.watch);
    const access = authorizeReq(deps, req, watching ? "watch" : "list", kind, ns);
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
    const listed = await deps.service.list(kind, {
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
}

function createHandler(deps: ResourceRouteDeps, namespaced: boolean): Handler {
  return async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced, true);
    if (!namespaced && kind.namespaced) throw new ApiError("MethodNotAllowed", `create ${kind.plural} in a namespace: POST ${API_PREFIX}/namespaces/{namespace}/${kind.plural}`);
    const access = authorizeReq(deps, req, "create", kind, ns);
    requireJson(req);
    const fieldValidation = fieldValidationOf(req);
    const obj = await deps.service.create(kind, ns, req.body, { dryRun: isDryRun(req), fieldValidation, planPreview: flag(req.query.planPreview), fieldManager: managerOf(req) });
    sendWarnings(res, fieldValidation);
    sendObject(req, res, kind, access, obj, 201);
  };
}

function getHandler(deps: ResourceRouteDeps, namespaced: boolean, sub?: "status"): Handler {
  return async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced);
    const access = authorizeReq(deps, req, "get", kind, ns, sub);
    const obj = await deps.service.get(kind, ns, param(req, "name"));
    if (visible(access, obj)) return sendObject(req, res, kind, access, obj);
    if (peerVisible(access, obj)) return sendObject(req, res, kind, {}, peerTaskView(obj));
    throw notFound(kind.plural, param(req, "name"));
  };
}

function replaceHandler(deps: ResourceRouteDeps, namespaced: boolean, sub?: "status"): Handler {
  return async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced);
    const access = authorizeReq(deps, req, "update", kind, ns, sub);
    requireJson(req);
    const dryRun = isDryRun(req);
    if (sub === "status" && !dryRun) {
      sendObject(req, res, kind, access, await deps.service.replaceStatusFromLatest(kind, ns, param(req, "name"), req.body, (o) => visible(access, o)));
      return;
    }
    const current = await getVisible(deps, kind, ns, param(req, "name"), access);
    const fieldValidation = fieldValidationOf(req);
    const obj = sub
      ? await deps.service.replaceStatus(kind, ns, param(req, "name"), req.body, { dryRun }, current)
      : await deps.service.replace(kind, ns, param(req, "name"), req.body, { dryRun, fieldValidation, planPreview: flag(req.query.planPreview), fieldManager: managerOf(req) });
    sendWarnings(res, fieldValidation);
    sendObject(req, res, kind, access, obj);
  };
}

function patchHandler(deps: ResourceRouteDeps, namespaced: boolean, sub?: "status"): Handler {
  return async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced);
    const access = authorizeReq(deps, req, "patch", kind, ns, sub);
    const type = patchTypeOf(req);
    const force = forceOf(req, type === "apply");
    const fieldValidation = fieldValidationOf(req);
    const write = { dryRun: isDryRun(req), fieldValidation, planPreview: flag(req.query.planPreview) };
    if (type === "apply") {
      if (sub) throw new ApiError("UnsupportedMediaType", "server-side apply of the /status subresource is not served: PUT or merge-patch the status");
      const fieldManager = managerOf(req, true);
      const name = param(req, "name");
      const existing = await deps.service.get(kind, ns, name).catch((err: unknown) => {
        if (err instanceof ApiError && err.reason === "NotFound") return undefined;
        throw err;
      });
      if (existing && !visible(access, existing)) throw notFound(kind.plural, name);
      // An apply creates what does not exist: the caller must be one that may create it.
      if (!existing) authorizeReq(deps, req, "create", kind, ns);
      const { object, created } = await deps.service.apply(kind, ns, name, req.body, { ...write, fieldManager, force });
      sendWarnings(res, fieldValidation);
      sendObject(req, res, kind, access, object, created ? 201 : 200);
      return;
    }
    await getVisible(deps, kind, ns, param(req, "name"), access);
    const obj = await deps.service.patch(kind, ns, param(req, "name"), type, req.body, { ...write, fieldManager: managerOf(req), ...(sub ? { subresource: sub } : {}) });
    sendWarnings(res, fieldValidation);
    sendObject(req, res, kind, access, obj);
  };
}

function removeHandler(deps: ResourceRouteDeps, namespaced: boolean): Handler {
  return async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced);
    const access = authorizeReq(deps, req, "delete", kind, ns);
    const options = parseDeleteOptions(req);
    authorizeOrphan(deps, req, kind, ns, options);
    await getVisible(deps, kind, ns, param(req, "name"), access);
    const obj = await deps.service.delete(kind, ns, param(req, "name"), options);
    sendObject(req, res, kind, access, obj);
  };
}

function removeCollectionHandler(deps: ResourceRouteDeps, namespaced: boolean): Handler {
  return async (req, res) => {
    const ns = namespaced ? param(req, "ns") : undefined;
    const kind = kindOf(param(req, "plural"), namespaced, true);
    if (!namespaced && kind.namespaced) {
      throw new ApiError("MethodNotAllowed", `delete ${kind.plural} by namespace: DELETE ${API_PREFIX}/namespaces/{namespace}/${kind.plural}`);
    }
    const access = authorizeReq(deps, req, "deletecollection", kind, ns);
    const selectors = parseSelectors(req.query, kind);
    const { dryRun, propagationPolicy } = parseDeleteOptions(req);
    authorizeOrphan(deps, req, kind, ns, { propagationPolicy });
    const deleted = await deps.service.deleteCollection(kind, { ...(ns !== undefined ? { namespace: ns } : {}), labels: selectors.labels, fields: selectors.fields }, (o) => visible(access, o), {
      dryRun,
      ...(propagationPolicy ? { propagationPolicy } : {}),
    });
    const items = deleted.items.map((o) => presentTo(access, o));
    res.type("application/json").send(JSON.stringify({ apiVersion: "eiaas.io/v1alpha1", kind: `${kind.kind}List`, metadata: { resourceVersion: deleted.resourceVersion }, items }));
  };
}

/**
 * The generic REST surface of design.md §3 for every kind: list (selectors, paging), watch, get,
 * create, replace, merge/JSON patch, delete, and the /status subresource. Handlers authorize,
 * parse, delegate to ResourceService and format — nothing else.
 */
export function resourceRouter(deps: ResourceRouteDeps): Router {
  const r = Router();
  const nsBase = "/namespaces/:ns/:plural";
  r.get(nsBase, wrap(listHandler(deps, true)));
  r.post(nsBase, wrap(createHandler(deps, true)));
  r.get(`${nsBase}/:name`, wrap(getHandler(deps, true)));
  r.put(`${nsBase}/:name`, wrap(replaceHandler(deps, true)));
  r.patch(`${nsBase}/:name`, wrap(patchHandler(deps, true)));
  r.delete(`${nsBase}/:name`, wrap(removeHandler(deps, true)));
  r.delete(nsBase, wrap(removeCollectionHandler(deps, true)));
  r.get(`${nsBase}/:name/status`, wrap(getHandler(deps, true, "status")));
  r.put(`${nsBase}/:name/status`, wrap(replaceHandler(deps, true, "status")));
  r.patch(`${nsBase}/:name/status`, wrap(patchHandler(deps, true, "status")));

  r.get("/:plural", wrap(listHandler(deps, false)));
  r.post("/:plural", wrap(createHandler(deps, false)));
  r.get("/:plural/:name", wrap(getHandler(deps, false)));
  r.put("/:plural/:name", wrap(replaceHandler(deps, false)));
  r.patch("/:plural/:name", wrap(patchHandler(deps, false)));
  r.delete("/:plural/:name", wrap(removeHandler(deps, false)));
  r.delete("/:plural", wrap(removeCollectionHandler(deps, false)));
  r.get("/:plural/:name/status", wrap(getHandler(deps, false, "status")));
  r.put("/:plural/:name/status", wrap(replaceHandler(deps, false, "status")));
  r.patch("/:plural/:name/status", wrap(patchHandler(deps, false, "status")));
  return r;
}
