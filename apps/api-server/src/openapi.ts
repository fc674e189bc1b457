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
import { KINDS, VERSION, failureStatus } from "@eiaas/api";
import { kindPaths, reportPaths } from "./openapi-paths.js";
import { GROUP_VERSION_PATH, kindSchema, listSchema, metaSchemas, schemaName, type Schema } from "./openapi-schemas.js";

export { GROUP_VERSION_PATH, META_PREFIX, schemaName } from "./openapi-schemas.js";

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
