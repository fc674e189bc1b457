// Test-only helpers of the agent's tests: a capturing logger, polling, a Redis database of a test
// file's own, and Tasks bound to a node as the scheduler would create them.
import request from "supertest";
import { API_PREFIX, type EdgeNodeSpecInput } from "@eiaas/api";
import type { TaskJob } from "@eiaas/queue";
import { captureLogger as captureNamedLogger, testRedisUrl, type CapturedLog } from "@eiaas/testing";
import type { TestApi } from "@eiaas/testing/api-server";

export const V = "eiaas.io/v1alpha1";
export const EDGE: EdgeNodeSpecInput = { tier: "edge", capacity: { cpu: 8000, memoryMiB: 16384 }, compute: { gflops: 1000 } };

/** A logger named "agent" at level debug whose lines are kept, parsed. */
export function captureLogger(): CapturedLog {
  return captureNamedLogger("agent");
}

/** Polling lives in libs/testing, with the other test helpers every package shares. */
export { waitFor } from "@eiaas/testing";

/** The test Redis URL with a database index of its own (its keys apart from other test files'). */
export function redisDb(db: number): string {
  const u = new URL(testRedisUrl());
  u.pathname = `/${db}`;
  return u.toString();
}

/**
 * A Task of `namespace` bound to `node` and Dispatched (what the scheduler would have created), and
 * its dispatch job; `extra` goes into the Task's spec (e.g. `expectedRunMs`).
 */
export async function createTask(api: TestApi, node: string, name: string, extra: Record<string, unknown> = {}, namespace = "acme"): Promise<TaskJob & { uid: string }> {
  const admin = { Authorization: `Bearer ${api.adminToken}` };
  const r = await request(api.app)
    .post(`${API_PREFIX}/namespaces/${namespace}/tasks`)
    .set(admin)
    .send({ apiVersion: V, kind: "Task", metadata: { name }, spec: { nodeName: node, role: "serve", resources: { cpu: 100, memoryMiB: 64, gpu: 0 }, ...extra } })
    .expect(201);
  await request(api.app)
    .put(`${API_PREFIX}/namespaces/${namespace}/tasks/${name}/status`)
    .set(admin)
    .send({ ...r.body, status: { phase: "Dispatched", attempt: 1 } })
    .expect(200);
  const uid: string = r.body.metadata.uid;
  // The job carries the Task's spec as stored, as the scheduler's dispatch builds it.
  return { node, uid, payload: { namespace, name, uid, attempt: 1, spec: r.body.spec } };
}

/** The task's status (as admin). */
export async function taskStatus(api: TestApi, name: string, namespace = "acme"): Promise<Record<string, any> | undefined> {
  const r = await request(api.app)
    .get(`${API_PREFIX}/namespaces/${namespace}/tasks/${name}`)
    .set({ Authorization: `Bearer ${api.adminToken}` });
  return r.status === 200 ? r.body.status : undefined;
}
