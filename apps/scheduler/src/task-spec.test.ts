// The Task a plan becomes holds what the API's Task schema allows (its typed load, priority and
// expected run time included), and its job is what the agent parses: the task's spec as stored.
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { API_VERSION, taskSpec } from "@eiaas/api";
import { ObjectStore, type StoredObject } from "@eiaas/db";
import { parseTaskJobPayload } from "@eiaas/queue";
import { taskJob } from "./dispatcher.js";
import { taskFromPlan } from "./task-factory.js";

// prepareCreate builds the object without a query: the pool never connects.
const pool = new pg.Pool({ connectionString: "postgresql://127.0.0.1:1/none" });
afterAll(() => pool.end());

const owner: StoredObject = {
  apiVersion: API_VERSION,
  kind: "TrainingJob",
  metadata: { name: "fl", namespace: "acme", uid: "0b0c8a9e-1111-4222-8333-944455556666", resourceVersion: "7", generation: 1, creationTimestamp: "2026-12-01T00:00:00Z" },
  spec: { model: "m" },
  status: {},
};
const planned = { role: "participant" as const, node: "dev-1", key: "participant/dev-1", resources: { cpu: 500, memoryMiB: 256, gpu: 0 }, load: 0.25, clients: [], priority: 12 };

describe("a planned task's spec", () => {
  it("carries load, priority and expected run time as typed fields, and the job carries that spec", () => {
    const task = taskFromPlan(new ObjectStore(pool), owner, planned, 3, { expectedRunMs: 1234.4 });
    expect(task.spec).toMatchObject({ nodeName: "dev-1", role: "participant", load: 0.25, priority: 12, expectedRunMs: 1234 });
    expect(taskSpec.safeParse(task.spec).success).toBe(true);
    expect(Object.keys(task.metadata.annotations ?? {}).filter((k) => k.startsWith("scheduling."))).toEqual([]);
    const job = taskJob(task);
    expect(job.node).toBe("dev-1");
    const parsed = parseTaskJobPayload(job.payload);
    expect(parsed).toMatchObject({ namespace: "acme", name: task.metadata.name, uid: task.metadata.uid, attempt: 1, owner: { kind: "TrainingJob", name: "fl" } });
    expect(parsed.spec).toEqual(task.spec);
  });

  it("holds a valid expected run time whatever the workload's estimates gave (negative, overflowing)", () => {
    for (const ms of [-5_000, -Infinity, Infinity, 1e300, Number.NaN]) {
      const task = taskFromPlan(new ObjectStore(pool), owner, planned, 3, { expectedRunMs: ms });
      const parsed = taskSpec.safeParse(task.spec);
      expect(parsed.success, `${ms}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
      // The queue takes its job: a refused one failed the whole batch's enqueue.
      expect(() => parseTaskJobPayload(JSON.parse(JSON.stringify(taskJob(task).payload))), String(ms)).not.toThrow();
    }
  });
});
