// Test-only: a node agent reduced to its protocol with the API and the queue — register, one
// heartbeat, consume the node's queue, report task phases — for tests that want the scheduler's
// view of a node without a real agent's timers (periodic heartbeats, link measurement, runtime).
import request from "supertest";
import { API_PREFIX, type EdgeNodeSpecInput } from "@eiaas/api";
import type { QueueBackend } from "@eiaas/queue";
import type { TestApi } from "../api-server.js";
import { V } from "./fixtures.js";

export interface ProtocolAgent {
  /** The node's name. */
  name: string;
  /** The agent token the API issued to the node at registration. */
  token: string;
  /** Reports a measured link, as an agent's heartbeat does; throws unless the API answers 204. */
  heartbeat(link: { uplinkMbps?: number; rttMs?: number }): Promise<void>;
  /** Stops consuming the node's queue (jobs in progress are abandoned). */
  stop(): Promise<void>;
}

export interface ProtocolAgentDeps {
  api: TestApi;
  /** The transport whose `node.<name>` queue the agent consumes. */
  queue: QueueBackend;
  /** A bootstrap token to register with. */
  bootstrapToken: string;
}

/** Most jobs one protocol agent runs at once. */
const CONCURRENCY = 10;

/**
 * Registers node `name` (with `spec` and `labels`) using the bootstrap token, sends one heartbeat
 * carrying the spec's uplink (the node becomes Ready; nothing renews its lease afterwards, so tests
 * relying on this agent must not shorten the scheduler's grace period below their length), then
 * consumes its queue: each job is reported Running (with endpoint `<name>:9000`) and — when the job
 * has a `spec.expectedRunMs`, as training tasks do — Succeeded after that long; servers run until their
 * job is cancelled. A Running report the API refuses (task gone or superseded) ends the job.
 */
export async function startProtocolAgent(deps: ProtocolAgentDeps, name: string, spec: EdgeNodeSpecInput, labels: Record<string, string> = {}): Promise<ProtocolAgent> {
  const { api, queue } = deps;
  const reg = await request(api.app)
    .post(`${API_PREFIX}/edgenodes/${name}/register`)
    .set({ Authorization: `Bearer ${deps.bootstrapToken}` })
    .send({ metadata: { labels }, spec })
    .expect(201);
  const token: string = reg.body.token;
  const auth = { Authorization: `Bearer ${token}` };
  const heartbeat = async (link: { uplinkMbps?: number; rttMs?: number }) => {
    await request(api.app).post(`${API_PREFIX}/edgenodes/${name}/heartbeat`).set(auth).send(link).expect(204);
  };
  await heartbeat({ uplinkMbps: spec.network?.uplinkMbps ?? 0 });
  const consumer = queue.consumeNodeQueue(
    name,
    async (job, ctx) => {
      const path = `${API_PREFIX}/namespaces/${job.namespace}/tasks/${job.name}/status`;
      const report = (phase: string) =>
        request(api.app)
          .put(path)
          .set(auth)
          .send({ apiVersion: V, kind: "Task", metadata: { name: job.name }, status: { phase, attempt: job.attempt, endpoint: `${name}:9000` } });
      if ((await report("Running")).status !== 200) return;
      await new Promise<void>((resolve) => {
        if (job.spec.expectedRunMs !== undefined) setTimeout(resolve, job.spec.expectedRunMs);
        ctx.signal.addEventListener("abort", () => resolve());
      });
      if (job.spec.expectedRunMs !== undefined && !ctx.signal.aborted) await report("Succeeded");
    },
    { concurrency: CONCURRENCY },
  );
  return { name, token, heartbeat, stop: () => consumer.close({ force: true }) };
}
