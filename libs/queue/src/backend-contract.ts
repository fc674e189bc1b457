// The behaviour both QueueBackend implementations must share, run by redis-backend.test.ts and
// postgres-backend.test.ts against real servers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QueueBackend } from "./backend.js";
import type { CommonQueueOptions } from "./bullmq-backend.js";
import type { TaskJobPayload } from "./payloads.js";
import { deferred, taskJob, waitFor, type Deferred } from "./test-support.js";

export interface ContractFixture {
  /** A fresh backend on the shared test server (closed by the contract), with `options` over the fixture's. */
  backend(options?: Pick<CommonQueueOptions, "lockDurationMs">): QueueBackend;
  /** Adds a job with arbitrary data bypassing validation (a buggy or hostile producer). */
  addRaw(queue: string, jobId: string, data: unknown): Promise<void>;
  close?(): Promise<void>;
}

let seq = 0;
/** Node names unique across the contract's tests (they share one queue keyspace). */
const nodeName = (label: string) => `${label}-${process.pid}-${++seq}`;

/** What the contract's tests share: set in its beforeAll, before any test runs. */
class Contract {
  fx!: ContractFixture;
  producer!: QueueBackend;
  consumer!: QueueBackend;
}

export function queueBackendContract(label: string, setup: () => Promise<ContractFixture>): void {
  describe(`${label} queue backend`, () => {
    const t = new Contract();
    beforeAll(async () => {
      t.fx = await setup();
      t.producer = t.fx.backend();
      t.consumer = t.fx.backend();
    });
    afterAll(async () => {
      await t.consumer?.close({ force: true });
      await t.producer?.close();
      await t.fx?.close?.();
    });
    enqueueTests(t);
    consumeTests(t);
    cancelTests(t);
    removeTests(t);
    sharedBackendTests(t);
  });
}

/** Dispatch: idempotent ids, payloads checked on the way in. */
function enqueueTests(t: Contract): void {
  it("enqueues idempotently by <taskUid>.<attempt>", async () => {
    const node = nodeName("idem");
    const ids = await t.producer.enqueueTasks([taskJob(node, "a"), taskJob(node, "a"), taskJob(node, "b"), taskJob(node, "a", 1)]);
    expect(ids).toEqual(["a-uid.0", "a-uid.0", "b-uid.0", "a-uid.1"]);
    await t.producer.enqueueTasks([taskJob(node, "a"), taskJob(node, "b")]);
    expect((await t.producer.depth(`node.${node}`)).waiting).toBe(3);
  });

  it("rejects a dispatch whose payload is malformed or names another node", async () => {
    const node = nodeName("bad");
    await expect(t.producer.enqueueTasks([taskJob(node, "x", 0, { role: "boss" })])).rejects.toThrow(/role/);
    await expect(t.producer.enqueueTasks([{ node, payload: taskJob("elsewhere", "x").payload }])).rejects.toThrow(/differs from target node/);
    expect((await t.producer.depth(`node.${node}`)).waiting).toBe(0);
  });
}

/** Consuming: concurrency, outcomes, payloads checked on the way out. */
function consumeTests(t: Contract): void {
  it("consumes with the given concurrency and completes or fails jobs by the handler's outcome", async () => {
    const node = nodeName("conc");
    const gates = new Map<string, Deferred>();
    let running = 0;
    let maxRunning = 0;
    const seen: string[] = [];
    const c = t.consumer.consumeNodeQueue(
      node,
      async (p: TaskJobPayload, ctx) => {
        expect(ctx.jobId).toBe(`${p.uid}.${p.attempt}`);
        seen.push(p.name);
        running++;
        maxRunning = Math.max(maxRunning, running);
        const gate = deferred();
        gates.set(p.name, gate);
        try {
          await gate.promise;
          if (p.spec.env.FAIL) throw new Error("task failed");
        } finally {
          running--;
        }
      },
      { concurrency: 3 },
    );
    await c.waitUntilReady();
    await t.producer.enqueueTasks([0, 1, 2, 3, 4, 5].map((i) => taskJob(node, `t${i}`, 0, i === 5 ? { env: { FAIL: "1" } } : {})));
    await waitFor(() => running === 3, "three jobs running");
    expect((await t.producer.depth(`node.${node}`)).active).toBe(3);
    expect(c.activeJobIds().sort()).toEqual(seen.map((n) => `${n}-uid.0`).sort());
    for (let released = 0; released < 6; released++) {
      const name = await waitFor(() => [...gates.keys()][0], "a running job");
      gates.get(name)!.resolve();
      gates.delete(name);
    }
    await waitFor(async () => {
      const d = await t.producer.depth(`node.${node}`);
      return d.completed === 5 && d.failed === 1;
    }, "all jobs finished");
    expect(maxRunning).toBe(3);
    expect(seen.sort()).toEqual(["t0", "t1", "t2", "t3", "t4", "t5"]);
    await c.close();
  });

  it("fails a malformed job without calling the handler, and goes on with the next", async () => {
    const node = nodeName("malformed");
    const invalid: string[] = [];
    const handled: string[] = [];
    await t.fx.addRaw(`node.${node}`, "junk.0", { hello: "world" });
    await t.fx.addRaw(`node.${node}`, "other.0", taskJob("someone-else", "other").payload);
    await t.producer.enqueueTasks([taskJob(node, "fine")]);
    const c = t.consumer.consumeNodeQueue(node, async (p) => void handled.push(p.name), {
      onInvalidPayload: (err, jobId) => invalid.push(`${jobId}: ${err.message}`),
    });
    await waitFor(() => handled.length === 1 && invalid.length === 2, "the good job handled and the bad ones rejected");
    expect(handled).toEqual(["fine"]);
    expect(invalid[0]).toMatch(/^junk\.0: invalid node job payload \(job junk\.0\): namespace: /);
    expect(invalid[1]).toMatch(/^other\.0: .*nodeName: is someone-else, not this queue's node/);
    await waitFor(async () => (await t.producer.depth(`node.${node}`)).failed === 2, "bad jobs failed");
    await c.close();
  });
}

/** Cancelling one job, and a forced close handing its jobs back. */
function cancelTests(t: Contract): void {
  it("aborts a cancelled job's signal", async () => {
    const node = nodeName("cancel");
    const started = deferred();
    const aborted = deferred<string>();
    const c = t.consumer.consumeNodeQueue(node, async (_p, ctx) => {
      started.resolve();
      await new Promise<void>((_, reject) =>
        ctx.signal.addEventListener("abort", () => {
          aborted.resolve(String(ctx.signal.reason));
          reject(new Error("cancelled"));
        }),
      );
    });
    await t.producer.enqueueTasks([taskJob(node, "long")]);
    await started.promise;
    expect(c.cancel("nope.0")).toBe(false);
    expect(c.cancel("long-uid.0", "task deleted")).toBe(true);
    expect(await aborted.promise).toMatch(/task deleted/);
    await waitFor(async () => (await t.producer.depth(`node.${node}`)).failed === 1, "cancelled job failed");
    await c.close();
  });

  it("hands the jobs a forced close cancels back to the queue, even when their handlers return", async () => {
    const node = nodeName("handback");
    const started = deferred();
    const returned = deferred();
    // As an agent shutting down: its runtime stops the task on the abort and the run returns.
    const c = t.consumer.consumeNodeQueue(node, async (_p, ctx) => {
      started.resolve();
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
      returned.resolve();
    });
    await t.producer.enqueueTasks([taskJob(node, "serving")]);
    await started.promise;
    await c.close({ force: true });
    await returned.promise;
    // Time for a completion, had one been sent, to land.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const depth = await t.producer.depth(`node.${node}`);
    expect(depth).toMatchObject({ completed: 0, failed: 0 });
    expect(depth.active + depth.waiting).toBe(1);
  });
}

/** Removing dispatch jobs: waiting ones, and active ones only once abandoned. */
function removeTests(t: Contract): void {
  it("removes a waiting dispatch job, not an absent, active or finished one", async () => {
    const node = nodeName("remove");
    await t.producer.enqueueTasks([taskJob(node, "gone")]);
    expect(await t.producer.removeTaskJob(node, "gone-uid.0")).toBe(true);
    expect(await t.producer.removeTaskJob(node, "gone-uid.0")).toBe(false);
    expect((await t.producer.depth(`node.${node}`)).waiting).toBe(0);

    const gate = deferred();
    const started = deferred();
    const c = t.consumer.consumeNodeQueue(node, async (p) => {
      if (p.name === "busy") {
        started.resolve();
        await gate.promise;
      }
    });
    await t.producer.enqueueTasks([taskJob(node, "busy")]);
    await started.promise;
    expect(await t.producer.removeTaskJob(node, "busy-uid.0")).toBe(false);
    gate.resolve();
    await waitFor(async () => (await t.producer.depth(`node.${node}`)).completed === 1, "busy job completed");
    expect(await t.producer.removeTaskJob(node, "busy-uid.0")).toBe(false);
    expect((await t.producer.depth(`node.${node}`)).completed).toBe(1);
    await c.close();
  });

  it("removes an active job its consumer abandoned (lock lapsed) when asked, never one whose lock is held", async () => {
    const node = nodeName("abandoned");
    // An agent whose lock lapses quickly: it takes the job, then stops renewing (as a paused or
    // dead process does; a forced close leaves the job active, as SIGKILL would).
    const frozen = t.fx.backend({ lockDurationMs: 1_000 });
    const started = deferred();
    const c = frozen.consumeNodeQueue(node, async (_p, ctx) => {
      started.resolve();
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
    });
    try {
      await t.producer.enqueueTasks([taskJob(node, "ghost")]);
      await started.promise;
      // Held: neither removal takes it.
      expect(await t.producer.removeTaskJob(node, "ghost-uid.0")).toBe(false);
      expect(await t.producer.removeTaskJob(node, "ghost-uid.0", { abandoned: true })).toBe(false);
      await c.close({ force: true });
      await frozen.close({ force: true });
      expect((await t.producer.depth(`node.${node}`)).active).toBe(1);
      // Without `abandoned` an active job stays; with it, once the lock lapsed, it goes.
      expect(await t.producer.removeTaskJob(node, "ghost-uid.0")).toBe(false);
      await waitFor(() => t.producer.removeTaskJob(node, "ghost-uid.0", { abandoned: true }), "the abandoned job removed");
      expect(await t.producer.depth(`node.${node}`)).toMatchObject({ active: 0, waiting: 0, completed: 0, failed: 0 });
    } finally {
      await frozen.close({ force: true });
    }
  });
}

/** The schedule queue, and one backend serving many node queues. */
function sharedBackendTests(t: Contract): void {
  it("coalesces schedule items per workload and delivers them", async () => {
    const s = t.fx.backend();
    try {
      const item = { kind: "InferenceService" as const, namespace: "acme", name: `svc-${seq++}` };
      await s.enqueueSchedule([item, item, { ...item, reason: "updated" }, { ...item, kind: "TrainingJob" as const }]);
      expect((await s.depth("schedule")).waiting).toBe(2);
      const got: string[] = [];
      const c = s.consumeSchedule(async (i) => void got.push(`${i.kind}/${i.name}`));
      await waitFor(() => got.length === 2, "both schedule items");
      expect(got.sort()).toEqual([`InferenceService/${item.name}`, `TrainingJob/${item.name}`]);
      await c.close();
    } finally {
      await s.close();
    }
  });

  it("serves many node queues from one backend", async () => {
    const fleet = t.fx.backend();
    try {
      const nodes = Array.from({ length: 50 }, () => nodeName("fleet"));
      const got = new Set<string>();
      for (const n of nodes) fleet.consumeNodeQueue(n, async (p) => void got.add(p.spec.nodeName));
      await t.producer.enqueueTasks(nodes.map((n) => taskJob(n, "work")));
      await waitFor(() => got.size === nodes.length, "every node's job");
    } finally {
      await fleet.close();
    }
  });
}
