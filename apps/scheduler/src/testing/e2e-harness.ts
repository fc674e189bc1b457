// Test-only: API + scheduler + protocol-level agents on real Postgres and Redis, in one process.
import { randomBytes } from "node:crypto";
import request from "supertest";
import { API_PREFIX } from "@eiaas/api";
import { createDatabase, ObjectStore, type Database } from "@eiaas/db";
import { createPostgresLeaseStore, createRedisQueueBackend, type QueueBackend, type QueueConsumer } from "@eiaas/queue";
import { createLogger } from "@eiaas/telemetry";
import { testRedisUrl } from "@eiaas/testing";
import { startTestApi, type TestApi } from "../../../api-server/src/test-harness.js";
import { Scheduler, type SchedulerOptions } from "../scheduler.js";

export const V = "eiaas.io/v1alpha1";

export interface E2E {
  api: TestApi;
  db: Database;
  queue: QueueBackend;
  scheduler: Scheduler;
  agentTokens: Map<string, string>;
  admin(): { Authorization: string };
  apply(path: string, obj: object): Promise<any>;
  get(path: string): Promise<any>;
  /** A node agent reduced to its protocol: register, heartbeat, consume its queue, report. */
  startAgent(node: string, spec: Record<string, unknown>, labels?: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}

export async function startE2E(options: SchedulerOptions = {}): Promise<E2E> {
  const api = await startTestApi();
  const db = createDatabase(api.db.url, { poolSize: 5 });
  const queue = createRedisQueueBackend({ url: testRedisUrl(), prefix: `bull-${randomBytes(4).toString("hex")}` });
  const logger = createLogger({ name: "scheduler", level: process.env.EIAAS_LOG_LEVEL ?? "silent" });
  const scheduler = new Scheduler(
    { databaseUrl: api.db.url, pool: db.pool, store: new ObjectStore(db.pool), queue, leases: createPostgresLeaseStore(db.pool), logger },
    { resyncMs: 200, ...options },
  );
  const consumers: QueueConsumer[] = [];
  const agentTokens = new Map<string, string>();
  const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });
  const e2e: E2E = {
    api,
    db,
    queue,
    scheduler,
    agentTokens,
    admin,
    apply: async (path, obj) => {
      const r = await request(api.app).post(`${API_PREFIX}${path}`).set(admin()).send(obj);
      if (r.status !== 201) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    get: async (path) => (await request(api.app).get(`${API_PREFIX}${path}`).set(admin()).expect(200)).body,
    startAgent: async (node, spec, labels = {}) => {
      const boot = await api.tokens.mint({ role: "bootstrap" });
      const reg = await request(api.app).post(`${API_PREFIX}/edgenodes/${node}/register`).set({ Authorization: `Bearer ${boot.token}` }).send({ metadata: { labels }, spec }).expect(201);
      const token: string = reg.body.token;
      agentTokens.set(node, token);
      await request(api.app)
        .post(`${API_PREFIX}/edgenodes/${node}/heartbeat`)
        .set({ Authorization: `Bearer ${token}` })
        .send({ uplinkMbps: spec.network ? (spec.network as { uplinkMbps: number }).uplinkMbps : 0 })
        .expect(204);
      const c = queue.consumeNodeQueue(
        node,
        async (job, ctx) => {
          const path = `${API_PREFIX}/namespaces/${job.namespace}/tasks/${job.name}/status`;
          const report = (phase: string) =>
            request(api.app).put(path).set({ Authorization: `Bearer ${token}` }).send({ apiVersion: V, kind: "Task", metadata: { name: job.name }, status: { phase, attempt: job.attempt, endpoint: `${node}:9000` } });
          const r = await report("Running");
          if (r.status !== 200) return;
          await new Promise<void>((resolve) => {
            if (job.expectedRunMs !== undefined) setTimeout(resolve, job.expectedRunMs);
            ctx.signal.addEventListener("abort", () => resolve());
          });
          if (job.expectedRunMs !== undefined) await report("Succeeded");
        },
        { concurrency: 10 },
      );
      consumers.push(c);
      return token;
    },
    close: async () => {
      await scheduler.stop();
      for (const c of consumers) await c.close({ force: true });
      await queue.close({ force: true });
      await db.close();
      await api.close();
    },
  };
  return e2e;
}
