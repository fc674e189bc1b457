/**
 * OpenAPI v3 for the eiaas group, generated from the zod schemas in libs/api, so that stock kubectl
 * validates, explains and applies without `--validate=false`.
 *
 * What kubectl 1.32 reads from it:
 * - `apply`/`create`/`replace` validation: kubectl looks up the kind's PATCH operation (by its
 *   `x-kubernetes-group-version-kind`) and, finding a `fieldValidation` query parameter there, leaves
 *   validation to the server (`fieldValidation=Strict`) instead of fetching `/openapi/v2`.
 * - `apply` patches: the PATCH request body lists no strategic-merge type, so kubectl sends a JSON
 *   merge patch (`application/merge-patch+json`), which is what the server implements.
 * - `explain`: the operations' GVK lead it to the component schema `io.eiaas.v1alpha1.<Kind>` and
 *   the descriptions under it.
 * - a `v1 List` (`kubectl get … -o yaml | kubectl apply -f -`): kubectl validates each item against
 *   OpenAPI v2, fetched as protobuf from `/openapi/v2` (the v3 lookup above finds no PATCH of a
 *   `v1 List`), and a 404 fails the apply. `/openapi/v2` answers an empty document (no
 *   definitions): kubectl finds no schema for an item and leaves it to the server, which validates
 *   each item's write (`fieldValidation=Strict`) as it does a single object's.
 */
import { createHash } from "node:crypto";
import { Router, type Request, type Response } from "express";
import { z } from "zod";
import { API_PREFIX, GROUP, KINDS, VERSION, clientLatencyReport, failureStatus, objectMeta, segmentTimingReport, type KindInfo } from "@eiaas/api";
import { describeField, KIND_DESCRIPTIONS, OBJECT_META_DESCRIPTIONS } from "./openapi-descriptions.js";

type Schema = Record<string, any>;

/** Prefix of the Kubernetes meta/v1 schemas our documents reference. */
export const META_PREFIX = "io.k8s.apimachinery.pkg.apis.meta.v1";
/** Key of the group-version document in the `/openapi/v3` index (no leading slash, as Kubernetes). */
export const GROUP_VERSION_PATH = `apis/${GROUP}/${VERSION}`;

/** Component schema name of a kind, e.g. `io.eiaas.v1alpha1.InferenceService`. */
export function schemaName(kind: string): string {
  const reversed = GROUP.split(".").reverse().join(".");
  return `${reversed}.${VERSION}.${kind}`;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const gvk = (kind: string) => ({ group: GROUP, version: VERSION, kind });
const SAFE_INT = Number.MAX_SAFE_INTEGER;

/** zod → OpenAPI 3.0 schema of what clients may send (`io: "input"`: defaulted fields are optional). */
function fromZod(schema: z.ZodType): Schema {
  const converted = z.toJSONSchema(schema, { io: "input", target: "openapi-3.0", unrepresentable: "any" });
  // A deep copy: decorate() mutates, and a sub-schema reused in several places must not share edits.
  const out = JSON.parse(JSON.stringify(converted)) as Schema;
  delete out.$schema;
  return out;
}

/**
 * Tidies a converted schema the Kubernetes way and documents it: integers get `format: int64`
 * instead of zod's ±2^53 bounds (`int32` instead of the 32-bit range's), number-or-"auto" unions are marked int-or-string, and every property
 * without a zod description gets one from {@link describeField}.
 */
function decorate(node: Schema, describe: (path: string[]) => string | undefined, path: string[] = []): Schema {
  if (node.type === "integer") {
    if (node.minimum === -SAFE_INT) delete node.minimum;
    if (node.maximum === SAFE_INT) delete node.maximum;
    // Exactly the 32-bit range (priorities): Kubernetes says int32, not the bounds.
    if (node.minimum === -(2 ** 31) && node.maximum === 2 ** 31 - 1) {
      delete node.minimum;
      delete node.maximum;
      node.format ??= "int32";
    }
    node.format ??= "int64";
  }
  if (Array.isArray(node.anyOf)) {
    const types = new Set(node.anyOf.map((s: Schema) => s.type));
    // A number or a keyword ("auto"): Kubernetes' structural-schema marker for such unions.
    if (types.size === 2 && types.has("string") && (types.has("integer") || types.has("number"))) node["x-kubernetes-int-or-string"] = true;
    node.anyOf.forEach((s: Schema) => decorate(s, describe, path));
  }
  if (node.properties) {
    for (const [key, child] of Object.entries<Schema>(node.properties)) {
      const p = [...path, key];
      const d = describe(p);
      if (d && !child.description) child.description = d;
      decorate(child, describe, p);
    }
  }
  if (node.items) decorate(node.items, describe, path);
  if (node.additionalProperties && typeof node.additionalProperties === "object") decorate(node.additionalProperties, describe, path);
  return node;
}

/** The component schema of one kind, with metadata pointing at ObjectMeta. */
function kindSchema(k: KindInfo): Schema {
  const s = decorate(fromZod(k.schema), (p) => describeField(k.kind, p));
  s.description = KIND_DESCRIPTIONS[k.kind] ?? k.kind;
  // As in Kubernetes' own documents: a $ref cannot carry siblings in OpenAPI 3.0, hence allOf.
  s.properties.metadata = { allOf: [ref(`${META_PREFIX}.ObjectMeta`)], default: {}, description: describeField(k.kind, ["metadata"]) };
  s["x-kubernetes-group-version-kind"] = [gvk(k.kind)];
  return s;
}

function listSchema(k: KindInfo): Schema {
  return {
    description: `${k.kind}List is a list of ${k.kind} objects.`,
    type: "object",
    required: ["items"],
    properties: {
      apiVersion: { type: "string", description: describeField(k.kind, ["apiVersion"]) },
      kind: { type: "string", description: describeField(k.kind, ["kind"]) },
      metadata: { allOf: [ref(`${META_PREFIX}.ListMeta`)], default: {}, description: "Standard list metadata: resourceVersion and continue." },
      items: { type: "array", description: `List of ${k.plural}.`, items: { allOf: [ref(schemaName(k.kind))], default: {} } },
    },
    "x-kubernetes-group-version-kind": [gvk(`${k.kind}List`)],
  };
}

/** The meta/v1 schemas the kinds and operations reference. */
function metaSchemas(): Record<string, Schema> {
  const objectMetaSchema = decorate(fromZod(objectMeta), (p) => (p.length === 1 ? OBJECT_META_DESCRIPTIONS[p[0]!] : undefined));
  objectMetaSchema.description = OBJECT_META_DESCRIPTIONS[""];
  const str = (description: string) => ({ type: "string", description });
  return {
    [`${META_PREFIX}.ObjectMeta`]: objectMetaSchema,
    [`${META_PREFIX}.ListMeta`]: {
      description: "ListMeta describes metadata that synthetic resources must have, including lists.",
      type: "object",
      properties: {
        resourceVersion: str("Version of the list; watch from it to see every later change."),
        continue: str("Set when the list was truncated by limit: pass it as ?continue= to get the next page."),
        remainingItemCount: { type: "integer", format: "int64", description: "Items after this page, when known." },
      },
    },
    [`${META_PREFIX}.Status`]: {
      description: "Status is the answer of failed requests (and of some deletes).",
      type: "object",
      properties: {
        apiVersion: str("v1"),
        kind: str("Status"),
        metadata: { allOf: [ref(`${META_PREFIX}.ListMeta`)], default: {} },
        status: str("Success or Failure."),
        message: str("Human-readable description of the error."),
        reason: str("Machine-readable reason (NotFound, Conflict, Invalid, ...)."),
        code: { type: "integer", format: "int32", description: "HTTP status code." },
        details: {
          type: "object",
          description: "Extra data about the error: the object and, for Invalid, the fields at fault.",
          properties: {
            name: str("Object name."),
            group: str("API group."),
            kind: str("Kind."),
            retryAfterSeconds: { type: "integer", format: "int32", description: "Seconds to wait before retrying." },
            causes: {
              type: "array",
              items: { type: "object", properties: { field: str("Field path, e.g. spec.layers[0].flops."), message: str("What is wrong."), reason: str("Cause type.") } },
            },
          },
        },
      },
      "x-kubernetes-group-version-kind": [{ group: "", version: "v1", kind: "Status" }],
    },
    [`${META_PREFIX}.DeleteOptions`]: {
      description: "DeleteOptions may be provided when deleting an object.",
      type: "object",
      properties: {
        apiVersion: str("v1"),
        kind: str("DeleteOptions"),
        propagationPolicy: str("Orphan, Background or Foreground; owned objects are deleted in the background either way."),
        gracePeriodSeconds: { type: "integer", format: "int64", description: "Accepted for compatibility." },
        dryRun: { type: "array", items: { type: "string" }, description: "All: validate without deleting." },
      },
    },
    [`${META_PREFIX}.Patch`]: { description: "A JSON merge patch (RFC 7386) of the object.", type: "object" },
    [`${META_PREFIX}.WatchEvent`]: {
      description: "Event in a watch stream.",
      type: "object",
      required: ["type", "object"],
      properties: { type: str("ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."), object: { type: "object", description: "The object (a Status for ERROR)." } },
    },
  };
}

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

/** Every path and operation of one kind (cluster-wide list, collection, item, status). */
function kindPaths(k: KindInfo): Record<string, Schema> {
  const id = `${GROUP.split(".").map((s) => s[0]!.toUpperCase() + s.slice(1)).join("")}${VERSION[0]!.toUpperCase()}${VERSION.slice(1)}`;
  const scoped = k.namespaced ? "Namespaced" : "";
  const obj = ref(schemaName(k.kind));
  const list = ref(schemaName(`${k.kind}List`));
  const ext = (action: string) => ({ "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk(k.kind) });
  const tags = [`${GROUP.replace(/\./g, "")}_${VERSION}`];
  const write = [P.dryRun, P.fieldManager, P.fieldValidation];
  const nsParam = pathParam("namespace", "Object name and auth scope: the tenant's namespace.");
  const nameParam = pathParam("name", `Name of the ${k.kind}.`);

  const listOp = (operationId: string, description: string) => ({
    tags,
    description,
    operationId,
    parameters: [P.labelSelector, P.fieldSelector, P.limit, P.continue, P.resourceVersion, P.watch],
    responses: {
      "200": { description: "OK", content: content(list, ["application/json", "application/yaml", "application/json;stream=watch"]) },
      "401": { description: "Unauthorized" },
    },
    ...ext("list"),
  });
  const body = (schema: Schema) => ({ required: true, content: content(schema, ["application/json", "application/yaml"]) });

  const collection: Schema = {
    get: listOp(`list${id}${scoped}${k.kind}`, `List or watch objects of kind ${k.kind}.`),
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
  const item: Schema = {
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
  const status: Schema = {
    get: { tags, description: `Read the status of the specified ${k.kind}.`, operationId: `read${id}${scoped}${k.kind}Status`, responses: responses({ "200": "OK" }, obj), ...ext("get") },
    put: { ...item.put, description: `Replace the status of the specified ${k.kind}.`, operationId: `replace${id}${scoped}${k.kind}Status` },
    patch: { ...item.patch, description: `Partially update the status of the specified ${k.kind}.`, operationId: `patch${id}${scoped}${k.kind}Status` },
  };

  const base = `/apis/${GROUP}/${VERSION}`;
  const scope = k.namespaced ? `${base}/namespaces/{namespace}/${k.plural}` : `${base}/${k.plural}`;
  const scopeParams = k.namespaced ? [nsParam] : [];
  const paths: Record<string, Schema> = {
    [scope]: { parameters: scopeParams, ...collection },
    [`${scope}/{name}`]: { parameters: [nameParam, ...scopeParams], ...item },
  };
  if (k.hasStatus) paths[`${scope}/{name}/status`] = { parameters: [nameParam, ...scopeParams], ...status };
  if (k.namespaced) {
    paths[`${base}/${k.plural}`] = { get: listOp(`list${id}${k.kind}ForAllNamespaces`, `List or watch objects of kind ${k.kind} in every namespace.`) };
  }
  return paths;
}

/**
 * The measurement reports (issue 20 part 7): an agent's segment timings and a client's end-to-end
 * latency. Their bodies are component schemas of their own.
 */
function reportPaths(schemas: Record<string, Schema>): Record<string, Schema> {
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

/** Builds the `apis/eiaas.io/v1alpha1` OpenAPI 3.0 document. */
export function buildOpenApiV3(version = "v1alpha1"): Schema {
  const schemas: Record<string, Schema> = metaSchemas();
  let paths: Record<string, Schema> = {};
  for (const k of KINDS) {
    schemas[schemaName(k.kind)] = kindSchema(k);
    schemas[schemaName(`${k.kind}List`)] = listSchema(k);
    paths = { ...paths, ...kindPaths(k) };
  }
  paths = { ...paths, ...reportPaths(schemas) };
  return {
    openapi: "3.0.0",
    info: { title: "eiaas", version },
    paths,
    components: { schemas, securitySchemes: { BearerToken: { type: "apiKey", description: "Bearer token: 'Authorization: Bearer <token>'.", name: "authorization", in: "header" } } },
    security: [{ BearerToken: [] }],
  };
}

interface Cached {
  body: Buffer;
  hash: string;
  index: Buffer;
}
let cached: Cached | undefined;

/** The group-version document, its hash and the `/openapi/v3` index, computed once per process. */
export function openApiV3(): Cached {
  if (!cached) {
    const body = Buffer.from(JSON.stringify(buildOpenApiV3()));
    // Kubernetes uses the upper-case hex SHA-512 of the document; clients cache by this URL.
    const hash = createHash("sha512").update(body).digest("hex").toUpperCase();
    const index = Buffer.from(JSON.stringify({ paths: { [GROUP_VERSION_PATH]: { serverRelativeURL: `/openapi/v3/${GROUP_VERSION_PATH}?hash=${hash}` } } }));
    cached = { body, hash, index };
  }
  return cached;
}

/**
 * The type of the protobuf answer: what kubectl (client-go's `OpenAPISchema`) asks for has an "@",
 * which Go's mime parser refuses in an answer's Content-Type; kube-openapi answers this spelling.
 */
const OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/** OpenAPI v2 without paths or definitions: our schemas are in v3 (see the comment at the top). */
const EMPTY_OPENAPI_V2 = { swagger: "2.0", info: { title: "eiaas", version: VERSION }, paths: {} };

/**
 * {@link EMPTY_OPENAPI_V2} as gnostic's `openapi_v2.Document` protobuf: `swagger` (field 1) and
 * `info` (field 2) holding `title` (field 1); every other field is empty.
 */
const EMPTY_OPENAPI_V2_PROTOBUF = ((): Buffer => {
  const str = (field: number, v: string): Buffer => Buffer.concat([Buffer.from([(field << 3) | 2, Buffer.byteLength(v)]), Buffer.from(v)]);
  const info = str(1, "eiaas");
  return Buffer.concat([str(1, "2.0"), Buffer.from([(2 << 3) | 2, info.length]), info]);
})();

function notFound(res: Response, message: string): void {
  res.status(404).json(failureStatus("NotFound", message));
}

/**
 * `/openapi/v3`, `/openapi/v3/apis/eiaas.io/v1alpha1` and an empty `/openapi/v2`; public,
 * mount before authentication: `app.use(openApiRouter())`.
 */
export function openApiRouter(): Router {
  const router = Router();
  router.get("/openapi/v3", (_req, res) => {
    res.setHeader("Content-Type", "application/json");
    res.setHeader("Cache-Control", "no-cache, private");
    res.send(openApiV3().index);
  });
  router.get(`/openapi/v3/${GROUP_VERSION_PATH}`, (req: Request, res: Response) => {
    const doc = openApiV3();
    const asked = typeof req.query.hash === "string" ? req.query.hash : undefined;
    if (asked !== undefined && asked !== doc.hash) {
      // As kube-apiserver: a stale hash is redirected to the current document's URL.
      res.redirect(301, `/openapi/v3/${GROUP_VERSION_PATH}?hash=${doc.hash}`);
      return;
    }
    res.setHeader("Content-Type", "application/json");
    res.setHeader("Cache-Control", asked ? "public, immutable" : "no-cache, private");
    if (asked) res.setHeader("Expires", new Date(Date.now() + 365 * 24 * 3600 * 1000).toUTCString());
    res.send(doc.body);
  });
  router.get(/^\/openapi\/v3\/.*/, (req, res) => notFound(res, `no OpenAPI document at ${req.path}; see /openapi/v3`));
  router.get("/openapi/v2", (req, res) => {
    res.setHeader("Cache-Control", "no-cache, private");
    if (/application\/com\.github\.proto-openapi\.spec\.v2([@.]v1\.0)?\+protobuf/.test(req.headers.accept ?? "")) {
      res.setHeader("Content-Type", OPENAPI_V2_PROTOBUF);
      res.send(EMPTY_OPENAPI_V2_PROTOBUF);
      return;
    }
    res.json(EMPTY_OPENAPI_V2);
  });
  return router;
}
