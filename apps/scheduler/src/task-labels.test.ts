// The labels the scheduler puts on Tasks pass the API's own label rules (values ≤ 63 characters),
// whatever the workload's name (up to 253 characters): the API refuses the same from users.
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { API_VERSION, labels as labelsSchema } from "@eiaas/api";
import { ObjectStore, type StoredObject } from "@eiaas/db";
import { taskFromPlan, WORKLOAD_LABEL, workloadLabelValue } from "./task-factory.js";

// prepareCreate builds the object without a query: the pool never connects.
const pool = new pg.Pool({ connectionString: "postgresql://127.0.0.1:1/none" });
afterAll(() => pool.end());

const owner = (name: string): StoredObject => ({
  apiVersion: API_VERSION,
  kind: "InferenceService",
  metadata: { name, namespace: "acme", uid: "0b0c8a9e-1111-4222-8333-944455556666", resourceVersion: "7", generation: 1, creationTimestamp: "2026-12-01T00:00:00Z" },
  spec: {},
  status: {},
});

const planned = { role: "serve" as const, node: "edge-1", key: "serve/edge-1", resources: { cpu: 500, memoryMiB: 256, gpu: 0 }, load: 0.1, clients: ["cam-1"], priority: 0 };

describe("task labels", () => {
  it("fit the API's label rules for workload names of every length, and stay distinct", () => {
    const long = `${"a".repeat(60)}.b-${"c".repeat(180)}`;
    const names = ["cam", "x".repeat(63), "y".repeat(64), long, `${long.slice(0, 200)}z`, `${"q".repeat(51)}-.-${"r".repeat(100)}`];
    const values = new Set<string>();
    for (const name of names) {
      const task = taskFromPlan(new ObjectStore(pool), owner(name), planned, 1, { planSize: 1 });
      const parsed = labelsSchema.safeParse(task.metadata.labels);
      expect(parsed.success, `${name.length}-character name: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
      values.add(task.metadata.labels![WORKLOAD_LABEL]!);
    }
    expect(values.size).toBe(names.length);
    expect(workloadLabelValue("cam")).toBe("cam");
    expect(workloadLabelValue("x".repeat(63))).toBe("x".repeat(63));
  });
});
