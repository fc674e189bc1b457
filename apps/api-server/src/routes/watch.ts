import type { Request, Response } from "express";
import { API_VERSION, type KindInfo } from "@eiaas/api";
import { StoreError, type ChangeFeed, type ObjectStore, type WatchEventRecord } from "@eiaas/db";
import { visible, type Access } from "../http/authz.js";
import { ApiError } from "../http/errors.js";
import { matchesSelectors, type Selectors } from "../http/selectors.js";
import { presentTo } from "../http/views.js";
import { isNonNegativeInt64 } from "../resources/validate.js";
import { tableContentType, tableVersion, toTableEvent } from "../table.js";

/** The annotation of the bookmark that ends a watch-list's initial events. */
export const INITIAL_EVENTS_END = "k8s.io/initial-events-end";

export interface WatchOptions {
  kind: KindInfo;
  namespace?: string;
  access: Access;
  selectors: Selectors;
  /** `resourceVersion` query parameter: absent/"0" = current state first, else resume after it. */
  resourceVersion?: string;
  allowBookmarks: boolean;
  /**
   * A watch-list (`sendInitialEvents=true`): the current state as ADDED events whatever
   * `resourceVersion` says (NotOlderThan it), then a bookmark annotated `k8s.io/initial-events-end`.
   */
  sendInitialEvents?: boolean;
  timeoutSeconds?: number;
  /** Bookmark period. Default 10 s. */
  bookmarkIntervalMs?: number;
  /** Hears of a failure while streaming (the watch then ends; the process and other watchers go on). */
  onError: (err: unknown) => void;
  /**
   * How objects are shown (after `presentTo`), and what selectors match: a core resource's view of
   * the stored kind (a Tenant as its Namespace). Default the stored object itself.
   */
  view?: { apiVersion: string; kind: string; of: (obj: any) => any };
  /** Selectors the initial list leaves to SQL when `view` needs some matched in memory. Default `selectors`. */
  listSelectors?: Selectors;
}

/**
 * How a watch ends when the feed lost part of the log (compacted before it was read): 410, as
 * Kubernetes' watch cache ends its watchers; the client lists again.
 */
const EXPIRED = { type: "ERROR", object: { apiVersion: "v1", kind: "Status", metadata: {}, status: "Failure", message: "the watch fell behind the log: list again", reason: "Expired", code: 410 } };

/**
 * What a watch sends before it goes live, and the version it has reached: the current state (a
 * list, or a watch-list's initial events) or the log's backlog after the client's resourceVersion.
 */
async function startingEvents(
  deps: { store: ObjectStore; feed: ChangeFeed },
  o: WatchOptions,
  matches: (obj: any) => boolean,
): Promise<{ initial: Array<{ type: string; object: any }>; last: bigint }> {
  const upTo = deps.feed.resourceVersion;
  if (o.sendInitialEvents || !o.resourceVersion || o.resourceVersion === "0") {
    const sql = o.listSelectors ?? o.selectors;
    const list = await deps.store.list(o.kind, {
      ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
      labels: sql.labels,
      fields: sql.fields,
    });
    // Feed events up to the list's version are already in the list and get dropped by `last`.
    const initial = list.items.filter((x) => (o.listSelectors ? matches(x) : visible(o.access, x))).map((object) => ({ type: "ADDED", object }));
    return { initial, last: BigInt(list.resourceVersion) };
  }
  if (!isNonNegativeInt64(o.resourceVersion)) throw new ApiError("BadRequest", `resourceVersion: invalid value "${o.resourceVersion}"`);
  const from = BigInt(o.resourceVersion);
  const backlog = await deps.feed.backlog(from, o.kind.kind, upTo > from ? upTo : from);
  let last = from;
  const initial: Array<{ type: string; object: any }> = [];
  for (const e of backlog) {
    last = e.resourceVersion;
    if (matches(e.object)) initial.push({ type: e.type, object: e.object });
  }
  if (upTo > last) last = upTo > from ? upTo : from;
  return { initial, last };
}

/** Keeps a live watch open: bookmarks when asked for, and its end at the timeout or when either side closes. */
function keepOpen(req: Request, res: Response, o: WatchOptions, cleanups: Array<() => void>, write: (type: string, stored: any) => void, finish: () => void): void {
  if (o.allowBookmarks) {
    const t = setInterval(() => {
      try {
        write("BOOKMARK", undefined);
      } catch (err) {
        o.onError(err);
        finish();
      }
    }, o.bookmarkIntervalMs ?? 10_000);
    cleanups.push(() => clearInterval(t));
  }
  const timeout = setTimeout(finish, (o.timeoutSeconds ?? 1800) * 1000);
  cleanups.push(() => clearTimeout(timeout));
  req.on("close", finish);
  res.on("close", finish);
}

/**
 * Streams watch events as newline-delimited JSON. Subscribes to the change feed before reading
 * the backlog (or the current state) so nothing falls between the two; duplicates are dropped by
 * resourceVersion. A resume point older than the log answers 410 Gone before streaming starts.
 */
export async function serveWatch(req: Request, res: Response, deps: { store: ObjectStore; feed: ChangeFeed }, o: WatchOptions): Promise<void> {
  const buffered: WatchEventRecord[] = [];
  let live = false;
  let last = 0n;
  const table = tableVersion(req.headers.accept);
  // Selectors match what the watcher may see (a tenant cannot select on the task names it is not shown).
  const shown = (stored: any) => (o.view ? o.view.of(presentTo(o.access, stored)) : presentTo(o.access, stored));
  const matches = (obj: any) => (o.namespace === undefined || obj.metadata?.namespace === o.namespace) && visible(o.access, obj) && matchesSelectors(shown(obj), o.selectors);

  // The initial-events-end bookmark carries the list's version exactly: events buffered while the
  // list was read, newer than it, follow it.
  const bookmark = (annotations?: Record<string, string>) => ({
    apiVersion: o.view?.apiVersion ?? API_VERSION,
    kind: o.view?.kind ?? o.kind.kind,
    metadata: { resourceVersion: String(annotations || deps.feed.resourceVersion <= last ? last : deps.feed.resourceVersion), ...(annotations ? { annotations } : {}) },
  });
  const write = (type: string, stored: any, annotations?: Record<string, string>) => {
    if (type === "BOOKMARK") {
      res.write(`${JSON.stringify({ type, object: bookmark(annotations) })}\n`);
      return;
    }
    const object = shown(stored);
    const event = table ? toTableEvent(o.kind, { type, object }, { version: table }) : { type, object };
    res.write(`${JSON.stringify(event)}\n`);
  };
  // The feed hands each batch to every watcher in turn, outside any request: a throw here would
  // reach the feed (and the watchers after this one), so it ends this watch instead.
  const deliver = (events: WatchEventRecord[]) => {
    if (!live) {
      buffered.push(...events);
      return;
    }
    try {
      for (const e of events) {
        if (e.resourceVersion <= last || e.kind !== o.kind.kind) continue;
        last = e.resourceVersion;
        if (matches(e.object)) write(e.type, e.object);
      }
    } catch (err) {
      o.onError(err);
      finish();
    }
  };
  // The feed lost part of the log (compacted before it was read): this stream would have a hole.
  let expired = false;
  const expire = () => {
    expired = true;
    if (live) finish(`${JSON.stringify(EXPIRED)}\n`);
  };
  const unsubscribe = deps.feed.subscribe(deliver, { onGone: expire });
  const cleanups: Array<() => void> = [unsubscribe];
  const finish = (last?: string) => {
    for (const c of cleanups.splice(0)) c();
    if (!res.writableEnded) res.end(last);
  };
  try {
    const start = await startingEvents(deps, o, matches);
    const initial = start.initial;
    last = start.last;
    res.status(200);
    res.setHeader("Content-Type", table ? tableContentType(table) : "application/json");
    res.setHeader("Cache-Control", "no-cache, private");
    res.setHeader("Transfer-Encoding", "chunked");
    res.flushHeaders();
    for (const e of initial) write(e.type, e.object);
    // The end of a watch-list's initial events (client-go's reflector waits for it to be synced).
    if (o.sendInitialEvents) write("BOOKMARK", undefined, { [INITIAL_EVENTS_END]: "true" });
    live = true;
    if (expired) return finish(`${JSON.stringify(EXPIRED)}\n`);
    const pending = buffered.splice(0);
    deliver(pending);
  } catch (err) {
    // Nothing was written yet: stop listening and let the error handler answer with a Status.
    for (const c of cleanups.splice(0)) c();
    if (err instanceof StoreError && err.reason === "Gone") throw new ApiError("Gone", `too old resource version: ${o.resourceVersion}`);
    throw err;
  }

  keepOpen(req, res, o, cleanups, write, finish);
}
