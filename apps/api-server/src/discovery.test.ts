import express from "express";
import request from "supertest";
import { KINDS } from "@eiaas/api";
import { describe, expect, it } from "vitest";
import { aggregatedVersion, discoveryRouter, versionInfo } from "./discovery.js";

const app = express();
app.use(discoveryRouter({ version: "1.4.2", gitCommit: "abc123", buildDate: "2026-11-26T00:00:00Z" }));

/** What kubectl 1.32 sends for /api and /apis. */
const KUBECTL_DISCOVERY_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

describe("/apis", () => {
  it("answers the aggregated v2 document to kubectl, with the Content-Type client-go switches on", async () => {
    const res = await request(app).get("/apis?timeout=32s").set("Accept", KUBECTL_DISCOVERY_ACCEPT).expect(200);
    expect(res.headers["content-type"]).toBe("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
    expect(res.headers.vary).toMatch(/Accept/);
    const body = JSON.parse(res.text);
    expect(body.kind).toBe("APIGroupDiscoveryList");
    expect(body.apiVersion).toBe("apidiscovery.k8s.io/v2");
    expect(body.items).toHaveLength(1);
    const group = body.items[0];
    expect(group.metadata.name).toBe("eiaas.io");
    expect(group.versions).toHaveLength(1);
    expect(group.versions[0].version).toBe("v1alpha1");
    expect(group.versions[0].freshness).toBe("Current");
    const resources = group.versions[0].resources;
    expect(resources.map((r: any) => r.resource).sort()).toEqual(KINDS.map((k) => k.plural).sort());
    const isvc = resources.find((r: any) => r.resource === "inferenceservices");
    expect(isvc).toEqual({
      resource: "inferenceservices",
      responseKind: { group: "eiaas.io", version: "v1alpha1", kind: "InferenceService" },
      scope: "Namespaced",
      singularResource: "inferenceservice",
      verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
      shortNames: ["isvc"],
      categories: ["all", "eiaas"],
      subresources: [{ subresource: "status", responseKind: { group: "eiaas.io", version: "v1alpha1", kind: "InferenceService" }, verbs: ["get", "patch", "update"] }],
    });
    const nodes = resources.find((r: any) => r.resource === "edgenodes");
    expect(nodes.scope).toBe("Cluster");
    expect(nodes.shortNames).toEqual(["en"]);
    expect(nodes.categories).toEqual(["eiaas"]);
    const events = resources.find((r: any) => r.resource === "events");
    expect(events.subresources).toBeUndefined();
    expect(events.categories).toEqual(["eiaas"]);
    const models = resources.find((r: any) => r.resource === "models");
    expect(models.subresources.map((s: any) => s.subresource)).toEqual(["status", "artifact"]);
  });

  it("answers v2beta1 when only that is asked for", async () => {
    const res = await request(app).get("/apis").set("Accept", "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json").expect(200);
    expect(res.headers["content-type"]).toBe("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");
    expect(JSON.parse(res.text).apiVersion).toBe("apidiscovery.k8s.io/v2beta1");
  });

  it("answers the legacy APIGroupList otherwise", async () => {
    for (const accept of ["application/json", "*/*", "application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"]) {
      const res = await request(app).get("/apis").set("Accept", accept).expect(200);
      expect(res.headers["content-type"]).toBe("application/json");
      expect(res.body).toEqual({
        kind: "APIGroupList",
        apiVersion: "v1",
        groups: [
          {
            name: "eiaas.io",
            versions: [{ groupVersion: "eiaas.io/v1alpha1", version: "v1alpha1" }],
            preferredVersion: { groupVersion: "eiaas.io/v1alpha1", version: "v1alpha1" },
          },
        ],
      });
    }
    const bare = await request(app).get("/apis").expect(200);
    expect(bare.body.kind).toBe("APIGroupList");
  });

  it("supports conditional requests (kubectl's HTTP cache)", async () => {
    const first = await request(app).get("/apis").set("Accept", KUBECTL_DISCOVERY_ACCEPT).expect(200);
    expect(first.headers.etag).toBeTruthy();
    await request(app).get("/apis").set("Accept", KUBECTL_DISCOVERY_ACCEPT).set("If-None-Match", first.headers.etag!).expect(304);
  });

  it("picks the aggregated version in the client's order", () => {
    expect(aggregatedVersion(KUBECTL_DISCOVERY_ACCEPT)).toBe("v2");
    expect(aggregatedVersion("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json")).toBeUndefined();
    expect(aggregatedVersion(undefined)).toBeUndefined();
  });
});

describe("/apis/eiaas.io and /apis/eiaas.io/v1alpha1", () => {
  it("serves the APIGroup", async () => {
    const res = await request(app).get("/apis/eiaas.io").expect(200);
    expect(res.body).toMatchObject({ kind: "APIGroup", apiVersion: "v1", name: "eiaas.io", preferredVersion: { version: "v1alpha1" } });
  });

  it("lists every kind and its status subresource", async () => {
    const res = await request(app).get("/apis/eiaas.io/v1alpha1").expect(200);
    expect(res.body.kind).toBe("APIResourceList");
    expect(res.body.groupVersion).toBe("eiaas.io/v1alpha1");
    const byName = new Map<string, any>(res.body.resources.map((r: any) => [r.name, r]));
    for (const k of KINDS) {
      const r = byName.get(k.plural);
      expect(r).toMatchObject({ singularName: k.singular, namespaced: k.namespaced, kind: k.kind });
      expect(r.verbs).toEqual(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]);
      expect(r.shortNames ?? []).toEqual(k.shortNames);
      expect(r.categories).toContain("eiaas");
      if (k.hasStatus) expect(byName.get(`${k.plural}/status`)).toMatchObject({ kind: k.kind, verbs: ["get", "patch", "update"] });
      else expect(byName.has(`${k.plural}/status`)).toBe(false);
    }
    expect(byName.get("tasks").shortNames).toBeUndefined();
    // A Model's ONNX file (routes/artifacts.ts).
    expect(byName.get("models/artifact")).toMatchObject({ kind: "Model", namespaced: true, verbs: ["get", "update"] });
  });
});

describe("/api", () => {
  it("serves the core group's v1 with namespaces and events, legacy and aggregated", async () => {
    const legacy = await request(app).get("/api").expect(200);
    expect(legacy.body).toEqual({ kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] });
    const aggregated = await request(app).get("/api").set("Accept", KUBECTL_DISCOVERY_ACCEPT).expect(200);
    expect(aggregated.headers["content-type"]).toBe("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
    const doc = JSON.parse(aggregated.text);
    expect(doc.items).toHaveLength(1);
    expect(doc.items[0].metadata.name).toBe("");
    expect(doc.items[0].versions[0].resources.map((r: any) => [r.resource, r.scope, r.responseKind.kind])).toEqual([
      ["namespaces", "Cluster", "Namespace"],
      ["events", "Namespaced", "Event"],
    ]);
    const v1 = await request(app).get("/api/v1").expect(200);
    expect(v1.body).toMatchObject({ kind: "APIResourceList", groupVersion: "v1" });
    expect(v1.body.resources.map((r: any) => r.name)).toEqual(["namespaces", "events"]);
  });
});

describe("/version", () => {
  it("answers a Kubernetes version.Info", async () => {
    const res = await request(app).get("/version").expect(200);
    expect(res.body).toMatchObject({
      major: "1",
      minor: "32",
      gitVersion: "v1.32.0+eiaas-v1.4.2",
      eiaas: { version: "v1.4.2", gitCommit: "abc123" },
      gitCommit: "abc123",
      buildDate: "2026-11-26T00:00:00Z",
      compiler: "node",
    });
    expect(res.body.platform).toBe(`${process.platform}/${process.arch}`);
  });

  it("defaults to the api-server package version", async () => {
    const info = versionInfo();
    expect(info.gitVersion).toMatch(/^v1\.32\.0\+eiaas-v\d+\.\d+\.\d+/);
    expect(info.eiaas.version).toMatch(/^v\d+\.\d+\.\d+/);
    expect(`${info.major}.${info.minor}`).toBe("1.32");
  });
});
