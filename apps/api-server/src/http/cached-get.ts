import type { IncomingMessage, ServerResponse } from "node:http";
import type { ObjectCache, ObjectStore, StoredObject } from "@eiaas/db";
import { runInContext } from "@eiaas/telemetry";
import { tableVersion } from "../table.js";
import type { Authenticator } from "./auth.js";
import { authorize, peerVisible, visible, type ModelRefs } from "./authz.js";
import { notFound, sendError } from "./errors.js";
import { parseObjectPath, type ObjectPath } from "./object-path.js";
import { sendJson } from "./one-write.js";
import { traceRequest } from "./telemetry.js";
import { peerJson, peerTaskView, presentedJson, presentTo } from "./views.js";

export interface CachedGetDeps {
  cache: ObjectCache;
  /** Read when the cache cannot prove itself current (Postgres answers or reports the outage). */
  store: ObjectStore;
  authenticator: Authenticator;
  /** Which Models agents may read (their node's tasks'). */
  models: ModelRefs;
  onInternal: (err: unknown) => void;
}

/**
 * The object a plain GET names, when it is one this path serves: `GET {prefix}/namespaces/{ns}/
 * {plural}/{name}` or `GET {prefix}/{plural}/{name}` of a cached kind, without a query string and
 * not asking for a Table. Anything else (lists, watches, subresources, Tables, unknown kinds and
 * every other verb) is left to the router.
 */
export function cachedGetTarget(req: IncomingMessage, cache: ObjectCache): ObjectPath | undefined {
  if (req.method !== "GET" || tableVersion(req.headers.accept)) return undefined;
  const target = parseObjectPath(req.url ?? "");
  return target && cache.has(target.kind) ? target : undefined;
}

/**
 * Serves GETs of single objects from the watch cache, without the general router: the read a
 * controller or client makes most. Same authentication, rate limit, authorization, visibility,
 * errors (Kubernetes Status) and telemetry as the routed GET; the body is the same object, its
 * JSON serialised once per version (and once more for the tenant view of an EdgeNode). Measured
 * on 2 cores (wrk, 100 connections): see docs/api-server.md, "Reads from the watch cache".
 */
export async function serveCachedGet(deps: CachedGetDeps, target: ObjectPath, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ctx = traceRequest(
    req,
    res,
    (req.url ?? "").split("?")[0]!,
    () => "GET",
    () => target.route,
    deps.onInternal,
  );
  await runInContext(ctx, async () => {
    try {
      const principal = await deps.authenticator.admit(req);
      const access = authorize(principal, "get", target.kind, target.namespace, undefined, deps.models);
      let json: string | undefined;
      let obj: StoredObject | null;
      try {
        const cached = await deps.cache.get(target.kind, target.namespace, target.name);
        obj = cached?.object ?? null;
        if (cached && visible(access, cached.object)) json = presentedJson(access, cached);
        else if (cached && peerVisible(access, cached.object)) json = peerJson(cached);
      } catch {
        // The cache could not show it is current: Postgres decides (or reports its outage).
        obj = await deps.store.get(target.kind, target.namespace, target.name);
      }
      if (!obj) throw notFound(target.kind.plural, target.name);
      if (json === undefined) {
        if (visible(access, obj)) json = JSON.stringify(presentTo(access, obj));
        else if (peerVisible(access, obj)) json = JSON.stringify(peerTaskView(obj));
        else throw notFound(target.kind.plural, target.name);
      }
      sendJson(res, 200, json);
    } catch (err) {
      sendError(res, err, deps.onInternal);
    }
  });
}
