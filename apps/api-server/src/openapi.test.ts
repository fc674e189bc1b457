import { existsSync, readFileSync, readdirSync } from "node:fs";
import { Ajv } from "ajv";
import express from "express";
import request from "supertest";
import { parseAllDocuments } from "yaml";
import { KINDS, lookupKind } from "@eiaas/api";
import { describe, expect, it } from "vitest";
import { buildOpenApiV3, GROUP_VERSION_PATH, META_PREFIX, openApiRouter, openApiV3, schemaName } from "./openapi.js";

const app = express();
app.use(openApiRouter());
const doc = buildOpenApiV3();
const schemas = doc.components.schemas;
/** Model objects shipped with the project. */
const DATA_DIRS = [new URL("../../../deploy/examples/", import.meta.url)];

/** An Ajv validator for one component schema of the document (OpenAPI 3.0 is JSON Schema plus `nullable`). */
function validatorFor(kind: string) {
  const ajv = new Ajv({ strict: false, allErrors: true });
  for (const f of ["int32", "int64", "int-or-string"]) ajv.addFormat(f, true);
  ajv.addSchema(doc, "eiaas");
  const validate = ajv.getSchema(`eiaas#/components/schemas/${schemaName(kind)}`);
  if (!validate) throw new Error(`no schema for ${kind}`);
  return validate;
}

function modelFiles(): string[] {
  const texts: string[] = [];
  for (const dir of DATA_DIRS) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".yaml"))) texts.push(readFileSync(new URL(f, dir), "utf8"));
  }
  return texts;
}

describe("/openapi/v3", () => {
  it("indexes the group-version document under its hash", async () => {
    const res = await request(app).get("/openapi/v3").expect(200);
    expect(Object.keys(res.body.paths)).toEqual([GROUP_VERSION_PATH]);
    const url = res.body.paths[GROUP_VERSION_PATH].serverRelativeURL;
    expect(url).toBe(`/openapi/v3/apis/eiaas.io/v1alpha1?hash=${openApiV3().hash}`);
    expect(openApiV3().hash).toMatch(/^[0-9A-F]{128}$/);

    const byHash = await request(app).get(url).expect(200);
    expect(byHash.headers["content-type"]).toBe("application/json");
    expect(byHash.headers["cache-control"]).toBe("public, immutable");
    expect(byHash.body.openapi).toBe("3.0.0");
    expect(byHash.body).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  it("serves the document without a hash, and redirects a stale hash", async () => {
    const plain = await request(app).get("/openapi/v3/apis/eiaas.io/v1alpha1").expect(200);
    expect(plain.headers["cache-control"]).toBe("no-cache, private");
    const stale = await request(app).get("/openapi/v3/apis/eiaas.io/v1alpha1?hash=ABC").expect(301);
    expect(stale.headers.location).toBe(`/openapi/v3/apis/eiaas.io/v1alpha1?hash=${openApiV3().hash}`);
  });

  it("answers a NotFound Status for other documents", async () => {
    const res = await request(app).get("/openapi/v3/apis/other.io/v1").expect(404);
    expect(res.body).toMatchObject({ kind: "Status", status: "Failure", reason: "NotFound", code: 404 });
  });

  it("answers /openapi/v2 empty, as JSON or as the protobuf kubectl asks for", async () => {
    const json = await request(app).get("/openapi/v2").expect(200);
    expect(json.body).toEqual({ swagger: "2.0", info: { title: "eiaas", version: "v1alpha1" }, paths: {} });
    const pb = await request(app)
      .get("/openapi/v2")
      .set("Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json")
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on("data", (c: Buffer) => chunks.push(c));
        r.on("end", () => cb(null, Buffer.concat(chunks)));
      })
      .expect(200);
    expect(pb.headers["content-type"]).toBe("application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
    // swagger: "2.0" (field 1), info (field 2) { title: "eiaas" (field 1) }
    expect([...(pb.body as Buffer)]).toEqual([0x0a, 3, ...Buffer.from("2.0"), 0x12, 7, 0x0a, 5, ...Buffer.from("eiaas")]);
  });

  it("computes the document once", () => {
    expect(openApiV3()).toBe(openApiV3());
  });
});

describe("component schemas", () => {
  it("has one schema per kind with its GVK, metadata referencing ObjectMeta, and descriptions", () => {
    for (const k of KINDS) {
      const s = schemas[schemaName(k.kind)];
      expect(s, k.kind).toBeDefined();
      expect(s["x-kubernetes-group-version-kind"]).toEqual([{ group: "eiaas.io", version: "v1alpha1", kind: k.kind }]);
      expect(s.description).toBeTruthy();
      expect(s.properties.metadata.allOf).toEqual([{ $ref: `#/components/schemas/${META_PREFIX}.ObjectMeta` }]);
      expect(schemas[schemaName(`${k.kind}List`)]["x-kubernetes-group-version-kind"]).toEqual([{ group: "eiaas.io", version: "v1alpha1", kind: `${k.kind}List` }]);
    }
    expect(schemaName("InferenceService")).toBe("io.eiaas.v1alpha1.InferenceService");
    expect(schemas[`${META_PREFIX}.ObjectMeta`].properties.labels.description).toBeTruthy();
  });

  it("documents the fields kubectl explain inferenceservice.spec shows", () => {
    const spec = schemas[schemaName("InferenceService")].properties.spec;
    expect(spec.required).toEqual(expect.arrayContaining(["model", "clients"]));
    for (const [name, field] of Object.entries<any>(spec.properties)) expect(field.description, name).toBeTruthy();
    expect(spec.properties.architecture.enum).toContain("edge-cloud");
    expect(spec.properties.slo.properties.latencyMs.description).toMatch(/latency/i);
  });

  it("types and documents Task's load, priority and expected run time (kubectl explain task.spec)", () => {
    const spec = schemas[schemaName("Task")].properties.spec;
    for (const [name, field] of Object.entries<any>(spec.properties)) expect(field.description, name).toBeTruthy();
    expect(spec.properties.load).toMatchObject({ type: "number", minimum: 0, description: expect.stringMatching(/busy fraction/i) });
    expect(spec.properties.priority).toMatchObject({ type: "integer", format: "int32", description: expect.stringMatching(/preemption/i) });
    expect(spec.properties.priority.description).not.toMatch(/maxPriority/);
    expect(spec.properties.expectedRunMs).toMatchObject({ type: "integer", format: "int64", minimum: 0, description: expect.stringMatching(/milliseconds/) });
    expect(spec.required ?? []).not.toEqual(expect.arrayContaining(["load"]));
    const validate = validatorFor("Task");
    const task = (s: Record<string, unknown>) => ({ apiVersion: "eiaas.io/v1alpha1", kind: "Task", metadata: { name: "t" }, spec: { role: "serve", ...s } });
    expect(validate(task({ load: 0.4, priority: -2, expectedRunMs: 1200 })), JSON.stringify(validate.errors)).toBe(true);
    for (const bad of [{ load: "0.4" }, { load: -1 }, { priority: 1.5 }, { expectedRunMs: -1 }]) expect(validate(task(bad)), JSON.stringify(bad)).toBe(false);
  });

  it("uses Kubernetes integer formats and marks number-or-keyword unions", () => {
    const tj = schemas[schemaName("TrainingJob")].properties.spec.properties;
    expect(tj.rounds).toMatchObject({ type: "integer", format: "int64", minimum: 1 });
    expect(tj.rounds.maximum).toBeUndefined();
    expect(tj.aggregation.properties.localSteps["x-kubernetes-int-or-string"]).toBe(true);
    expect(tj.priority).toMatchObject({ type: "integer", format: "int32" });
    expect(tj.priority.minimum).toBeUndefined();
    const tenant = schemas[schemaName("Tenant")].properties.spec.properties;
    expect(tenant.quota.properties["count/models"]).toMatchObject({ type: "integer", format: "int64", minimum: 0, description: expect.stringContaining("count/<resource>") });
  });

  it("accepts every Model in the reference data, and rejects unknown fields", () => {
    const validate = validatorFor("Model");
    let models = 0;
    for (const text of modelFiles()) {
      for (const d of parseAllDocuments(text)) {
        const obj = d.toJS();
        if (obj?.kind !== "Model") continue;
        models++;
        expect(validate(obj), JSON.stringify(validate.errors)).toBe(true);
        // The server's own schema agrees.
        expect(lookupKind("Model")!.schema.safeParse(obj).success).toBe(true);
        expect(validate({ ...obj, spec: { ...obj.spec, bogus: 1 } })).toBe(false);
      }
    }
    if (DATA_DIRS.some((d) => existsSync(d))) expect(models).toBeGreaterThan(0);
  });

  it("accepts objects as the server returns them (server-set metadata, status, kubectl's annotation)", () => {
    const validate = validatorFor("InferenceService");
    const obj = {
      apiVersion: "eiaas.io/v1alpha1",
      kind: "InferenceService",
      metadata: {
        name: "detector",
        namespace: "acme",
        uid: "0b4c6c7e-1",
        resourceVersion: "12",
        generation: 2,
        creationTimestamp: "2026-11-26T12:00:00Z",
        labels: { app: "det" },
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
      },
      spec: lookupKind("isvc")!.spec!.parse({ model: "resnet18", clients: { selector: { matchLabels: { tier: "device" } } } }),
      status: {
        phase: "Running",
        observedGeneration: 2,
        conditions: [{ type: "Ready", status: "True", reason: "", message: "", lastTransitionTime: "2026-11-26T12:00:01Z" }],
        plan: {
          clients: [
            {
              client: "d1",
              architecture: "edge-device",
              split: 3,
              headNode: "d1",
              tailNode: "e1",
              variant: "base",
              exitAfterLayer: 10,
              predicted: { latencyMs: 12, deviceEnergyMj: 3, accuracy: 0.7, uplinkBytes: 1000 },
            },
          ],
        },
      },
    };
    expect(validate(obj), JSON.stringify(validate.errors)).toBe(true);
  });
});

describe("paths", () => {
  const base = "/apis/eiaas.io/v1alpha1";

  it("has every operation of every kind, tagged with its GVK and action", () => {
    for (const k of KINDS) {
      const scope = k.namespaced ? `${base}/namespaces/{namespace}/${k.plural}` : `${base}/${k.plural}`;
      const gvk = { group: "eiaas.io", version: "v1alpha1", kind: k.kind };
      const collection = doc.paths[scope];
      const item = doc.paths[`${scope}/{name}`];
      expect(collection.get["x-kubernetes-action"]).toBe("list");
      expect(collection.get.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(["labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion"]));
      expect(collection.post["x-kubernetes-action"]).toBe("post");
      for (const [method, action] of [
        ["get", "get"],
        ["put", "put"],
        ["patch", "patch"],
        ["delete", "delete"],
      ]) {
        expect(item[method!]["x-kubernetes-action"], `${k.kind} ${method}`).toBe(action);
        expect(item[method!]["x-kubernetes-group-version-kind"]).toEqual(gvk);
      }
      if (k.namespaced) expect(doc.paths[`${base}/${k.plural}`].get.operationId).toBe(`listEiaasIoV1alpha1${k.kind}ForAllNamespaces`);
      if (k.hasStatus) expect(Object.keys(doc.paths[`${scope}/{name}/status`]).sort()).toEqual(["get", "parameters", "patch", "put"]);
      else expect(doc.paths[`${scope}/{name}/status`]).toBeUndefined();
    }
    expect(doc.paths[`${base}/namespaces/{namespace}/inferenceservices/{name}`].get.operationId).toBe("readEiaasIoV1alpha1NamespacedInferenceService");
    expect(doc.paths[`${base}/edgenodes/{name}`].patch.operationId).toBe("patchEiaasIoV1alpha1EdgeNode");
  });

  it("tells kubectl the server validates fields and takes merge patches only", () => {
    for (const k of KINDS) {
      const scope = k.namespaced ? `${base}/namespaces/{namespace}/${k.plural}` : `${base}/${k.plural}`;
      const patch = doc.paths[`${scope}/{name}`].patch;
      expect(patch.parameters.find((p: any) => p.name === "fieldValidation")).toMatchObject({ in: "query" });
      expect(Object.keys(patch.requestBody.content)).toEqual(["application/merge-patch+json"]);
    }
  });

  it("only references schemas that exist", () => {
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/[^"]+/g) ?? [];
    for (const r of new Set(refs)) expect(schemas[r.slice("#/components/schemas/".length)], r).toBeDefined();
  });
});
