import { invalid } from "./errors.js";

/** What a list or watch request asks of the resourceVersion it names (Kubernetes' ListOptions). */
export interface ListSemantics {
  /** A watch-list: the current state as ADDED events, then a bookmark marking their end. */
  sendInitialEvents: boolean;
}

const flag = (v: unknown) => v === "true" || v === "1";

/**
 * Validates `resourceVersionMatch` and `sendInitialEvents` as kube-apiserver does (422 naming the
 * field). Lists and watches serve the current state or later, so `NotOlderThan` is honoured and
 * `Exact` (a state in the past) is refused: eiaas keeps no past states to list.
 */
export function listSemantics(query: Record<string, unknown>, kind: string, watching: boolean): ListSemantics {
  const match = query.resourceVersionMatch;
  const initial = query.sendInitialEvents;
  const fail = (field: string, message: string) => invalid(kind, undefined, [{ field, message, reason: "FieldValueInvalid" }]);
  if (match !== undefined && match !== "" && match !== "NotOlderThan" && match !== "Exact") {
    throw fail("resourceVersionMatch", `Unsupported value: "${String(match)}": supported values: "Exact", "NotOlderThan"`);
  }
  if (match === "Exact") throw fail("resourceVersionMatch", `Unsupported value: "Exact": only the current state is served (use "NotOlderThan")`);
  if (initial !== undefined && initial !== "true" && initial !== "false") throw fail("sendInitialEvents", `Invalid value: "${String(initial)}": must be true or false`);
  const sendInitialEvents = initial === "true";
  if (!watching) {
    if (sendInitialEvents) throw fail("sendInitialEvents", "sendInitialEvents is forbidden for list");
    return { sendInitialEvents };
  }
  if (initial !== undefined) {
    if (match !== "NotOlderThan") throw fail("resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
    if (sendInitialEvents && !flag(query.allowWatchBookmarks)) throw fail("allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks to true");
  } else if (match !== undefined && match !== "") {
    throw fail("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided");
  }
  return { sendInitialEvents };
}
