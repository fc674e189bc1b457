// The faults of the issue, one at a time. Each injects, does what an operator (or Kubernetes)
// would do next — restart what was killed, start what was stopped — and returns when that is done:
// recovery is measured from the injection until every check holds again.
import type { ChaosConfig, FaultName } from "./config.js";
import { getLocal, type Deployment } from "./deployment.js";
import { API, type ApiClient } from "./http.js";
import type { Ledger, LedgerEntry } from "./ledger.js";
import type { Rng } from "./rng.js";
import type { Sampler } from "./sampler.js";
import type { TenantState, Traffic } from "./traffic.js";

export interface FaultContext {
  d: Deployment;
  /** Through the load balancer (the admin's requests). */
  client: ApiClient;
  config: ChaosConfig;
  traffic: Traffic;
  ledger: Ledger;
  rng: Rng;
  sampler: Sampler;
  log(line: string): void;
}

export interface FaultOutcome {
  /** When the fault's own actions (restarts included) were over. */
  endedAt: number;
  /** What was measured along the way (takeover time, answers during an outage, ...). */
  notes: string[];
}

type Fault = (c: FaultContext) => Promise<FaultOutcome>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long the harness waits for a process it restarted (or a step of a fault) before giving up:
 * as long as for the deployment's start. A process started under tsx on a loaded machine took
 * over 60 s to answer (a ci run beside other test files); the fault's time to recover says how long.
 */
const PROCESS_WAIT_MS = 180_000;

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Answers of the traffic in [from, to): counts by status and how fast the refusals came. */
function answersBetween(c: FaultContext, from: number, to: number): string {
  const rows = c.traffic.answers.filter((a) => a.at >= from && a.at < to);
  const by = new Map<string, number>();
  for (const a of rows) by.set(a.status === 0 ? "no answer" : String(a.status), (by.get(a.status === 0 ? "no answer" : String(a.status)) ?? 0) + 1);
  const refused = rows
    .filter((a) => a.status === 503)
    .map((a) => a.ms)
    .sort((a, b) => a - b);
  const p = (q: number) => (refused.length ? `${Math.round(refused[Math.min(refused.length - 1, Math.floor(q * refused.length))]!)} ms` : "-");
  return `answers ${[...by].map(([k, v]) => `${k}: ${v}`).join(", ") || "none"}; 503 in p50 ${p(0.5)}, p99 ${p(0.99)}`;
}

const schedulerLeaderKill: Fault = async (c) => {
  const leader = await until("a scheduler to lead", PROCESS_WAIT_MS, () => c.d.leader());
  const victim = c.d.schedulers[leader]!;
  const t0 = performance.now();
  await victim.process.kill("SIGKILL");
  const standby = 1 - leader;
  await until("the standby to take over", PROCESS_WAIT_MS, async () => ((await c.d.leader()) === standby ? true : undefined), 20);
  const takeover = performance.now() - t0;
  await sleep(c.config.restartAfterS * 1000);
  victim.process.start();
  await until(`${victim.process.name} back`, PROCESS_WAIT_MS, async () => /^ok/.test((await getLocal(victim.metricsPort, "/readyz")).text) || undefined);
  return { endedAt: Date.now(), notes: [`killed ${victim.process.name}; standby took over in ${(takeover / 1000).toFixed(2)} s`] };
};

const apiServerKill: Fault = async (c) => {
  const i = c.rng.int(0, c.d.apis.length - 1);
  const t0 = Date.now();
  await c.d.apis[i]!.kill("SIGKILL");
  await sleep(c.config.restartAfterS * 1000);
  c.d.apis[i]!.start();
  await c.d.waitApiReady(i);
  return { endedAt: Date.now(), notes: [`killed api-${i}; while down: ${answersBetween(c, t0, Date.now())}`] };
};

const fleetKill: Fault = async (c) => {
  await c.d.fleet.kill("SIGKILL");
  await sleep(c.config.restartAfterS * 1000);
  const t0 = Date.now();
  c.d.fleet.start();
  await c.d.waitFleetReady();
  return { endedAt: Date.now(), notes: [`${c.d.layout.fleet.length} nodes registered again in ${((Date.now() - t0) / 1000).toFixed(1)} s`] };
};

const redisKill: Fault = async (c) => {
  await c.d.redis.process.kill("SIGKILL");
  await sleep(c.config.restartAfterS * 1000);
  await c.d.redis.start();
  return { endedAt: Date.now(), notes: ["redis-server killed and started again empty (queues, leases and agents' ACL users gone)"] };
};

const postgresStop: Fault = async (c) => {
  const t0 = Date.now();
  await c.d.pg.stop();
  const stopped = Date.now();
  await sleep(c.config.postgresOutageS * 1000);
  const alive = c.d.processes().filter((p) => p.running).length;
  await c.d.pg.start();
  return {
    endedAt: Date.now(),
    notes: [`stopped ${((Date.now() - t0) / 1000).toFixed(1)} s; ${alive}/${c.d.processes().length} processes alive at its end; during it: ${answersBetween(c, stopped, Date.now())}`],
  };
};

const agentStop: Fault = async (c) => {
  const a = c.rng.pick(c.d.agents);
  await a.process.kill("SIGSTOP");
  // Past NotReady (grace) and past eviction, with the scheduler's resync to act on both.
  const { nodeGraceS: grace, nodeEvictionS: eviction, pastEvictionS: past } = c.config;
  await sleep((grace + eviction + past) * 1000);
  await a.process.kill("SIGCONT");
  return { endedAt: Date.now(), notes: [`${a.node.name} stopped ${grace + eviction + past} s (grace ${grace} s + eviction ${eviction} s + ${past} s)`] };
};

/** Runs `jobs` with at most `n` at once. */
async function pool<T>(n: number, jobs: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]!();
      }
    }),
  );
  return out;
}

function outcomes(entries: LedgerEntry[], type: string): string {
  const ops = entries.map((e) => e.ops.filter((o) => o.type === type).at(-1)!).filter(Boolean);
  const n = (o: string) => ops.filter((x) => x.outcome === o).length;
  return `${n("acked")} acknowledged, ${n("rejected")} refused, ${n("unknown")} unknown`;
}

const burst: Fault = async (c) => {
  const tenants = c.traffic.tenants.filter((t) => t.token && !t.paused);
  const t0 = Date.now();
  // A refusal by the rate limit (429) is sent again under a new name; anything else stands.
  const created = await pool(
    16,
    Array.from({ length: c.config.burst }, (_, i) => async () => {
      const t = tenants[i % tenants.length]!;
      for (let attempt = 0; ; attempt++) {
        const e = c.rng.chance(0.15) ? await c.traffic.createModel(t, "bu") : await c.traffic.createWorkload(t, "bu");
        if (e.ops[0]!.status !== 429 || attempt >= 10) return e;
        await sleep(500 * (attempt + 1));
      }
    }),
  );
  const createdIn = Date.now() - t0;
  const settled = await c.sampler.waitRecovered(Date.now(), Date.now() + c.config.recoverS * 1000);
  const live = created.filter((e) => c.ledger.isLive(e));
  const t1 = Date.now();
  const token = (e: LedgerEntry) => c.traffic.tenants.find((t) => t.name === e.namespace)?.token ?? "";
  await pool(
    16,
    live.map((e) => () => c.traffic.remove(e, token(e))),
  );
  return {
    endedAt: Date.now(),
    notes: [
      `${c.config.burst} creates in ${(createdIn / 1000).toFixed(1)} s: ${outcomes(created, "create")}`,
      // A workload is held to settling once settleS old: the time is when the checks last failed.
      settled ? `every check held from ${((settled - t0) / 1000).toFixed(1)} s after the burst began` : `checks still failing ${c.config.recoverS} s after it`,
      `${live.length} deleted in ${((Date.now() - t1) / 1000).toFixed(1)} s: ${outcomes(live, "delete")}`,
    ],
  };
};

const FINALIZER = "chaos.eiaas.io/hold";

const finalizers: Fault = async (c) => {
  const tenants = c.traffic.tenants.filter((t) => t.token && !t.paused);
  const held: Array<{ e: LedgerEntry; t: TenantState }> = [];
  for (const t of tenants) for (let i = 0; i < 2; i++) held.push({ e: await c.traffic.createWorkload(t, "fz", [FINALIZER]), t });
  const live = held.filter((h) => c.ledger.isLive(h.e));
  // Placed and running before they are deleted.
  await sleep(Math.min(15, c.config.settleS) * 1000);
  const t0 = Date.now();
  for (const h of live) await c.traffic.remove(h.e, h.t.token!);
  const terminating = live.filter((h) => h.e.ops.at(-1)!.terminating).length;
  // Terminating for a while: their tasks must not become orphans yet.
  await sleep(5_000);
  for (const h of live) await c.traffic.patch(h.e, h.t.token!, { metadata: { finalizers: [] } }, undefined, "unfinalize");
  return {
    endedAt: Date.now(),
    notes: [
      `${held.length} workloads with finalizer ${FINALIZER}: ${outcomes(
        held.map((h) => h.e),
        "create",
      )}; deleted (${terminating} terminating), finalizers removed after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${outcomes(
        live.map((h) => h.e),
        "unfinalize",
      )}`,
    ],
  };
};

const tenantRecreate: Fault = async (c) => {
  const t = c.rng.pick(c.traffic.tenants.filter((x) => x.token));
  const entry = c.ledger.entries.find((e) => e.kind === "Tenant" && e.name === t.name && c.ledger.isLive(e));
  if (!entry) throw new Error(`no live ledger entry of tenant ${t.name}`);
  t.paused = true;
  await until(`${t.name}'s writes in flight to end`, PROCESS_WAIT_MS, async () => t.inFlight === 0 || undefined);
  const objects = c.traffic.live(t, ["InferenceService", "TrainingJob", "Model"]).length;
  const t0 = Date.now();
  await c.traffic.deleteTenant(entry);
  if (entry.ops.at(-1)!.outcome !== "acked") throw new Error(`tenant delete answered ${entry.ops.at(-1)!.status ?? "nothing"}`);
  const gone = await until(
    `tenant ${t.name} gone`,
    c.config.recoverS * 2000,
    async () => ((await c.client.request("GET", `${API}/tenants/${t.name}`, { token: c.d.adminToken })).status === 404 ? Date.now() : undefined),
    250,
  );
  await c.traffic.setupTenant(t, Date.now() + c.config.recoverS * 1000);
  const recreated = c.ledger.entries.filter((e) => e.kind === "Tenant" && e.name === t.name).at(-1)!;
  const deletion = c.ledger.tenantDeletions.find((x) => x.op === entry.ops.at(-1));
  if (deletion) deletion.recreatedAt = recreated.ops[0]!.end;
  t.paused = false;
  return { endedAt: Date.now(), notes: [`${t.name} deleted with ${objects} objects, gone after ${((gone - t0) / 1000).toFixed(1)} s, created again`] };
};

export const FAULTS: Record<FaultName, Fault> = {
  "scheduler-leader-kill": schedulerLeaderKill,
  "api-server-kill": apiServerKill,
  "fleet-kill": fleetKill,
  "redis-kill": redisKill,
  "postgres-stop": postgresStop,
  "agent-stop": agentStop,
  burst,
  finalizers,
  "tenant-recreate": tenantRecreate,
};
