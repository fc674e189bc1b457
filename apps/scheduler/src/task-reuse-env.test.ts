// A service's spec.caching and spec.inputFilter reach its entry tasks (serve, head) as the
// environment the onnx runtime and eiaas-serve read; a tail (cut tensors) gets neither.
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { API_VERSION } from "@eiaas/api";
import { ObjectStore, type StoredObject } from "@eiaas/db";
import { taskFromPlan } from "./task-factory.js";

// prepareCreate builds the object without a query: the pool never connects.
const pool = new pg.Pool({ connectionString: "postgresql://127.0.0.1:1/none" });
afterAll(() => pool.end());

const owner = (spec: Record<string, unknown>): StoredObject => ({
  apiVersion: API_VERSION,
  kind: "InferenceService",
  metadata: { name: "cam", namespace: "acme", uid: "0b0c8a9e-1111-4222-8333-944455556666", resourceVersion: "7", generation: 1, creationTimestamp: "2026-12-01T00:00:00Z" },
  spec: { model: "resnet18", ...spec },
  status: {},
});
const planned = (role: "serve" | "head" | "tail") => ({
  role,
  node: "edge-1",
  key: `${role}/edge-1`,
  resources: { cpu: 500, memoryMiB: 256, gpu: 0 },
  load: 0.1,
  clients: ["cam-1"],
  priority: 0,
  annotations: {},
});

describe("caching and input filter env", () => {
  it("is set on serve and head tasks, not on tails, and absent when the service has neither", () => {
    const store = new ObjectStore(pool);
    const svc = owner({ caching: { maxEntries: 500, ttlSeconds: 30 }, inputFilter: { threshold: 0.02 } });
    const env = (role: "serve" | "head" | "tail", o = svc) => taskFromPlan(store, o, planned(role), 1).spec.env as Record<string, string>;
    const expected = { EIAAS_CACHE_MAX_ENTRIES: "500", EIAAS_CACHE_TTL_SECONDS: "30", EIAAS_INPUT_FILTER_THRESHOLD: "0.02" };
    expect(env("serve")).toMatchObject(expected);
    expect(env("head")).toMatchObject(expected);
    for (const k of Object.keys(expected)) {
      expect(env("tail")).not.toHaveProperty(k);
      expect(env("serve", owner({}))).not.toHaveProperty(k);
    }
  });
});
