// The paths of the OpenAPI document: every kind's REST operations (with the query parameters
// kubectl looks for) and the measurement reports.
import { API_PREFIX, GROUP, VERSION, clientLatencyReport, segmentTimingReport, type KindInfo } from "@eiaas/api";
import { fromZod, gvk, META_PREFIX, ref, schemaName, type Schema } from "./openapi-schemas.js";

const query = (name: string, description: string, schema: Schema = { type: "string" }) => ({ name, in: "query", description, schema, uniqueItems: true });
const P = {
  dryRun: query("dryRun", "All: validate (and plan) without persisting."),
  fieldManager: query("fieldManager", "Name of the actor making the change (recorded, not enforced)."),
  // Its presence on PATCH tells kubectl the server validates fields itself (see the file comment).
  fieldValidation: query("fieldValidation", "Ignore, Warn or Strict: how unknown or duplicate fields are treated. The server always rejects unknown fields."),
  labelSelector: query("labelSelector", "Select objects by label (=, ==, !=, in, notin, exists, !key)."),
  fieldSelector: query("fieldSelector", "Select objects by metadata.name, metadata.namespace, status.phase or spec.nodeName."),
  limit: query("limit", "Page size; the list carries metadata.continue when there is more.", { type: "integer" }),
  continue: query("continue", "Token from the previous page's metadata.continue."),
  resourceVersion: query("resourceVersion", "With watch: the version to stream changes after."),
  watch: query("watch", "Stream changes as newline-delimited WatchEvents instead of listing.", { type: "boolean" }),
  propagationPolicy: query("propagationPolicy", "Orphan, Background or Foreground."),
};
const pathParam = (name: string, description: string) => ({ name, in: "path", required: true, description, schema: { type: "string" }, uniqueItems: true });

function content(schema: Schema, types = ["application/json", "application/yaml"]): Schema {
  return Object.fromEntries(types.map((t) => [t, { schema }]));
}

function responses(codes: Record<string, string>, schema: Schema): Schema {
  const out: Schema = {};
  for (const [code, description] of Object.entries(codes)) out[code] = { description, content: content(schema) };
  out["401"] = { description: "Unauthorized" };
  return out;
}

/** What the operations of one kind share. */
interface KindOperations {
  k: KindInfo;
  /** Operation id infix: group and version, then `Namespaced` for a namespaced kind. */
  id: string;
  scoped: string;
  obj: Schema;
  list: Schema;
  tags: string[];
  write: Schema[];
  ext(action: string): Schema;
}

function kindOperations(k: KindInfo): KindOperations {
  return {
    k,
    id: `${GROUP.split(".")
      .map((s) => s[0]!.toUpperCase() + s.slice(1))
      .join("")}${VERSION[0]!.toUpperCase()}${VERSION.slice(1)}`,
    scoped: k.namespaced ? "Namespaced" : "",
    obj: ref(schemaName(k.kind)),
    list: ref(schemaName(`${k.kind}List`)),
    tags: [`${GROUP.replace(/\./g, "")}_${VERSION}`],
    write: [P.dryRun, P.fieldManager, P.fieldValidation],
    ext: (action: string) => ({ "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk(k.kind) }),
  };
}

function listOperation(o: KindOperations, operationId: string, description: string): Schema {
  return {
    tags: o.tags,
    description,
    operationId,
    parameters: [P.labelSelector, P.fieldSelector, P.limit, P.continue, P.resourceVersion, P.watch],
    responses: {
      "200": { description: "OK", content: content(o.list, ["application/json", "application/yaml", "application/json;stream=watch"]) },
      "401": { description: "Unauthorized" },
    },
    ...o.ext("list"),
  };
}

const body = (schema: Schema) => ({ required: true, content: content(schema, ["application/json", "application/yaml"]) });

/** List or watch, create, delete a collection. */
function collectionOperations(o: KindOperations): Schema {
  const { k, id, scoped, obj, list, tags, write, ext } = o;
  return {
    get: listOperation(o, `list${id}${scoped}${k.kind}`, `List or watch objects of kind ${k.kind}.`),
    post: {
      tags,
      description: `Create a ${k.kind}.`,
      operationId: `create${id}${scoped}${k.kind}`,
      parameters: write,
      requestBody: body(obj),
      responses: responses({ "200": "OK", "201": "Created" }, obj),
      ...ext("post"),
    },
    delete: {
      tags,
      description: `Delete the ${k.kind} objects the selectors match (each as its own delete would); answers the deleted objects.`,
      operationId: `deletecollection${id}${scoped}${k.kind}`,
      parameters: [P.labelSelector, P.fieldSelector, P.dryRun, P.propagationPolicy],
      requestBody: { content: content(ref(`${META_PREFIX}.DeleteOptions`), ["application/json"]) },
      responses: responses({ "200": "OK" }, list),
      ...ext("deletecollection"),
    },
  };
}

/** Read, replace, patch and delete one object. */
function itemOperations(o: KindOperations): Schema {
  const { k, id, scoped, obj, tags, write, ext } = o;
  return {
    get: { tags, description: `Read the specified ${k.kind}.`, operationId: `read${id}${scoped}${k.kind}`, responses: responses({ "200": "OK" }, obj), ...ext("get") },
    put: {
      tags,
      description: `Replace the specified ${k.kind} (metadata.resourceVersion must be current).`,
      operationId: `replace${id}${scoped}${k.kind}`,
      parameters: write,
      requestBody: body(obj),
      responses: responses({ "200": "OK" }, obj),
      ...ext("put"),
    },
    patch: {
      tags,
      description: `Partially update the specified ${k.kind} with a JSON merge patch.`,
      operationId: `patch${id}${scoped}${k.kind}`,
      parameters: write,
      // Only merge patch: listing strategic-merge-patch here would make kubectl send one.
      requestBody: { required: true, content: { "application/merge-patch+json": { schema: ref(`${META_PREFIX}.Patch`) } } },
      responses: responses({ "200": "OK" }, obj),
      ...ext("patch"),
    },
    delete: {
      tags,
      description: `Delete the specified ${k.kind}; objects it owns are deleted too.`,
      operationId: `delete${id}${scoped}${k.kind}`,
      parameters: [P.dryRun, P.propagationPolicy],
      requestBody: { content: content(ref(`${META_PREFIX}.DeleteOptions`), ["application/json"]) },
      responses: responses({ "200": "OK", "202": "Accepted" }, obj),
      ...ext("delete"),
    },
  };
}

/** The /status subresource: as the item's read, replace and patch, of the status. */
function statusOperations(o: KindOperations, item: Schema): Schema {
  const { k, id, scoped, obj, tags, ext } = o;
  return {
    get: { tags, description: `Read the status of the specified ${k.kind}.`, operationId: `read${id}${scoped}${k.kind}Status`, responses: responses({ "200": "OK" }, obj), ...ext("get") },
    put: { ...item.put, description: `Replace the status of the specified ${k.kind}.`, operationId: `replace${id}${scoped}${k.kind}Status` },
    patch: { ...item.patch, description: `Partially update the status of the specified ${k.kind}.`, operationId: `patch${id}${scoped}${k.kind}Status` },
  };
}

/** Every path and operation of one kind (cluster-wide list, collection, item, status). */
export function kindPaths(k: KindInfo): Record<string, Schema> {
  const o = kindOperations(k);
  const item = itemOperations(o);
  const nsParam = pathParam("namespace", "Object name and auth scope: the tenant's namespace.");
  const nameParam = pathParam("name", `Name of the ${k.kind}.`);
  const base = `/apis/${GROUP}/${VERSION}`;
  const scope = k.namespaced ? `${base}/namespaces/{namespace}/${k.plural}` : `${base}/${k.plural}`;
  const scopeParams = k.namespaced ? [nsParam] : [];
  const paths: Record<string, Schema> = {
    [scope]: { parameters: scopeParams, ...collectionOperations(o) },
    [`${scope}/{name}`]: { parameters: [nameParam, ...scopeParams], ...item },
  };
  if (k.hasStatus) paths[`${scope}/{name}/status`] = { parameters: [nameParam, ...scopeParams], ...statusOperations(o, item) };
  if (k.namespaced) {
    paths[`${base}/${k.plural}`] = { get: listOperation(o, `list${o.id}${k.kind}ForAllNamespaces`, `List or watch objects of kind ${k.kind} in every namespace.`) };
  }
  return paths;
}

/**
 * The measurement reports (issue 20 part 7): an agent's segment timings and a client's end-to-end
 * latency. Their bodies are component schemas of their own.
 */
export function reportPaths(schemas: Record<string, Schema>): Record<string, Schema> {
  schemas[schemaName("SegmentTimingReport")] = { ...fromZod(segmentTimingReport), description: "What a node's serving tasks measured: per task and layer range, a median over count requests." };
  schemas[schemaName("ClientLatencyReport")] = { ...fromZod(clientLatencyReport), description: "A client's measured end-to-end latency of a service's current plan." };
  const tags = [`${GROUP.replace(/\./g, "")}_${VERSION}`];
  const post = (operationId: string, description: string, body: string) => ({
    tags,
    description,
    operationId,
    requestBody: { required: true, content: content(ref(schemaName(body)), ["application/json"]) },
    responses: { "200": { description: "OK" }, "401": { description: "Unauthorized" }, "403": { description: "Forbidden" }, "422": { description: "Invalid" } },
  });
  return {
    [`${API_PREFIX}/edgenodes/{name}/segment-timings`]: {
      parameters: [pathParam("name", "Name of the EdgeNode (the agent's own).")],
      post: post("reportSegmentTimings", "Report what the node's serving tasks measured (the node's agent token). Each task must be bound to the node.", "SegmentTimingReport"),
    },
    [`${API_PREFIX}/namespaces/{namespace}/inferenceservices/{name}/latency`]: {
      parameters: [pathParam("namespace", "The tenant's namespace."), pathParam("name", "Name of the InferenceService.")],
      post: post("reportClientLatency", "Report a client's measured end-to-end latency (admin, the namespace's tenant, or the client node's agent).", "ClientLatencyReport"),
    },
  };
}
