// The tenants' steady traffic through the load balancer, each with its own token: creates, edits
// and deletes of InferenceServices, TrainingJobs and Models at a fixed rate, every write recorded
// in the ledger with its outcome. Also the write helpers the faults use (burst, finalizers, tenant
// re-creation), so every write of the run goes through the ledger.
import type { ChaosConfig } from "./config.js";
import { API, NoAnswer, type ApiClient } from "./http.js";
import type { Layout } from "./layout.js";
import { Ledger, type LedgerEntry, type LedgerKind, type LedgerOp } from "./ledger.js";
import { BASE_MODEL, inferenceService, modelObject, tenantObject, trainingJob } from "./objects.js";
import type { Rng } from "./rng.js";

export const TENANTS = ["tenant-a", "tenant-b", "tenant-c"];
const PLURAL: Record<LedgerKind, string> = { Tenant: "tenants", Model: "models", InferenceService: "inferenceservices", TrainingJob: "trainingjobs" };
/** Writes a tenant has in flight at most: during an outage the traffic does not pile up. */
const MAX_IN_FLIGHT = 4;
const CHURN_MODELS = 3;

export interface TenantState {
  name: string;
  token?: string;
  /** No traffic while set (the tenant is being deleted and created again). */
  paused: boolean;
  inFlight: number;
}

/** One answer of the traffic, for the outage figures (503s and how fast they came). */
export interface AnswerRecord {
  at: number;
  status: number;
  ms: number;
  /** Method and path, and the answer's message when it was an error. */
  what: string;
}

export interface TrafficDeps {
  client: ApiClient;
  adminToken: string;
  ledger: Ledger;
  rng: Rng;
  config: ChaosConfig;
  layout: Layout;
  runId: string;
}

export class Traffic {
  readonly tenants: TenantState[] = TENANTS.map((name) => ({ name, paused: true, inFlight: 0 }));
  readonly answers: AnswerRecord[] = [];
  private timer?: NodeJS.Timeout;
  private seq = 0;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly d: TrafficDeps) {}

  /** A name never used before in this run. */
  name(prefix: string): string {
    return `${prefix}-${++this.seq}`;
  }

  /**
   * Creates the tenant (admin), mints its token and creates its model; retried until each step is
   * acknowledged (the tenant re-creation fault calls it while the old tenant may still be going).
   */
  async setupTenant(t: TenantState, deadline: number): Promise<void> {
    const admin = this.d.adminToken;
    for (;;) {
      const e = await this.write("Tenant", "", t.name, admin, "create", "POST", `${API}/tenants`, tenantObject(t.name, this.d.config.workloadsPerTenant));
      if (e.ops.at(-1)!.outcome === "acked") break;
      if (Date.now() > deadline) throw new Error(`tenant ${t.name} could not be created: ${e.ops.at(-1)!.status ?? "no answer"}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    for (;;) {
      const r = await this.d.client.request("POST", `${API}/tenants/${t.name}/tokens`, { token: admin, body: {} }).catch(() => undefined);
      if (r?.status === 201) {
        t.token = r.body.token;
        break;
      }
      if (Date.now() > deadline) throw new Error(`no token for ${t.name}: ${r?.status ?? "no answer"}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    for (;;) {
      const e = await this.write("Model", t.name, BASE_MODEL, t.token!, "create", "POST", `${API}/namespaces/${t.name}/models`, modelObject(BASE_MODEL, t.name));
      if (e.ops.at(-1)!.outcome === "acked") break;
      if (Date.now() > deadline) throw new Error(`no model for ${t.name}: ${e.ops.at(-1)!.status ?? "no answer"}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  start(): void {
    for (const t of this.tenants) t.paused = false;
    const everyMs = 1000 / this.d.config.opsPerTenantPerSecond;
    // The three tenants' ticks are spread over the period.
    let i = 0;
    this.timer = setInterval(() => this.tick(this.tenants[i++ % this.tenants.length]!), everyMs / this.tenants.length);
  }

  /** Stops sending and waits for every write in flight to be answered (or to time out). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.pending]);
  }

  /** Live objects of `kind` in the tenant's namespace, as the ledger knows them. */
  live(t: TenantState, kinds: LedgerKind[]): LedgerEntry[] {
    return this.d.ledger.entries.filter((e) => e.namespace === t.name && kinds.includes(e.kind) && this.d.ledger.isLive(e));
  }

  private tick(t: TenantState): void {
    if (t.paused || !t.token || t.inFlight >= MAX_IN_FLIGHT) return;
    const rng = this.d.rng;
    const target = this.d.config.workloadsPerTenant;
    let job: Promise<unknown>;
    if (rng.chance(0.15)) {
      const churn = this.live(t, ["Model"]).filter((e) => e.name !== BASE_MODEL && !e.busy);
      if (churn.length < CHURN_MODELS && rng.chance(0.5)) job = this.createModel(t);
      else if (churn.length && rng.chance(0.5)) job = this.editModel(rng.pick(churn), t);
      else if (churn.length) job = this.remove(rng.pick(churn), t.token);
      else job = this.createModel(t);
    } else {
      // The faults' own objects (burst, finalizers) are theirs to delete.
      const workloads = this.live(t, ["InferenceService", "TrainingJob"]).filter((e) => !e.name.startsWith("bu-") && !e.name.startsWith("fz-"));
      const idle = workloads.filter((e) => !e.busy);
      const r = rng.next();
      if (workloads.length < target * 0.75 || (r < 0.3 && workloads.length < target * 1.25) || !idle.length) job = this.createWorkload(t);
      else if (r < 0.7 && workloads.length <= target * 1.25) job = this.editWorkload(rng.pick(idle), t);
      else job = this.remove(rng.pick(idle), t.token);
    }
    t.inFlight++;
    const p = job.finally(() => {
      t.inFlight--;
      this.pending.delete(p);
    });
    this.pending.add(p);
  }

  createWorkload(t: TenantState, prefix = "", finalizers?: string[]): Promise<LedgerEntry> {
    const tj = this.d.rng.chance(0.25);
    const name = this.name(prefix || (tj ? "tj" : "is"));
    const o = { runId: this.d.runId, ...(finalizers ? { finalizers } : {}) };
    const body = tj ? trainingJob(name, t.name, this.d.rng, this.d.layout, o) : inferenceService(name, t.name, this.d.rng, this.d.layout, o);
    const kind = tj ? "TrainingJob" : "InferenceService";
    return this.write(kind, t.name, name, t.token!, "create", "POST", `${API}/namespaces/${t.name}/${PLURAL[kind]}`, body);
  }

  createModel(t: TenantState, prefix = "mc"): Promise<LedgerEntry> {
    const name = this.name(prefix);
    return this.write("Model", t.name, name, t.token!, "create", "POST", `${API}/namespaces/${t.name}/models`, modelObject(name, t.name));
  }

  private editModel(e: LedgerEntry, t: TenantState): Promise<LedgerEntry> {
    const image = `chaos/model:${++this.seq}`;
    return this.patch(e, t.token!, { spec: { image } }, { path: ["image"], value: image });
  }

  /** A re-plan (resources) or a change of the tasks' environment. */
  private editWorkload(e: LedgerEntry, t: TenantState): Promise<LedgerEntry> {
    if (e.kind === "InferenceService" && this.d.rng.chance(0.5)) {
      const cpu = this.d.rng.int(2, 8) * 100;
      return this.patch(e, t.token!, { spec: { resources: { cpu } } }, { path: ["resources", "cpu"], value: cpu });
    }
    const marker = String(++this.seq);
    return this.patch(e, t.token!, { spec: { template: { env: { CHAOS_EDIT: marker } } } }, { path: ["template", "env", "CHAOS_EDIT"], value: marker });
  }

  patch(e: LedgerEntry, token: string, body: unknown, expect?: LedgerOp["expect"], type: "edit" | "unfinalize" = "edit"): Promise<LedgerEntry> {
    return this.send(e, token, type, "PATCH", this.path(e), body, "application/merge-patch+json", expect);
  }

  remove(e: LedgerEntry, token: string): Promise<LedgerEntry> {
    return this.send(e, token, "delete", "DELETE", this.path(e));
  }

  /** The admin deletes the tenant: its namespace's objects go with it (the ledger records that). */
  deleteTenant(e: LedgerEntry): Promise<LedgerEntry> {
    return this.send(e, this.d.adminToken, "delete", "DELETE", this.path(e), undefined, undefined, undefined, (op) => this.d.ledger.tenantDeletions.push({ namespace: e.name, op }));
  }

  path(e: LedgerEntry): string {
    return e.kind === "Tenant" ? `${API}/tenants/${e.name}` : `${API}/namespaces/${e.namespace}/${PLURAL[e.kind]}/${e.name}`;
  }

  /** A create: a new ledger entry, its op answered or not. */
  write(kind: LedgerKind, namespace: string, name: string, token: string, type: "create", method: string, path: string, body: unknown): Promise<LedgerEntry> {
    const e = this.d.ledger.entry(kind, namespace, name);
    return this.send(e, token, type, method, path, body);
  }

  private async send(
    e: LedgerEntry,
    token: string,
    type: LedgerOp["type"],
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
    expect?: LedgerOp["expect"],
    onBegin?: (op: LedgerOp) => void,
  ): Promise<LedgerEntry> {
    const op = this.d.ledger.begin(e, type);
    if (expect) op.expect = expect;
    onBegin?.(op);
    try {
      const r = await this.d.client.request(method, path, { token, ...(body !== undefined ? { body } : {}), ...(contentType ? { contentType } : {}) });
      this.answers.push({ at: Date.now(), status: r.status, ms: r.ms, what: `${method} ${path}${r.status >= 400 ? `: ${String(r.body?.message ?? r.body).slice(0, 200)}` : ""}` });
      this.d.ledger.answer(e, op, r.status, r.body);
    } catch (err) {
      if (!(err instanceof NoAnswer)) throw err;
      this.answers.push({ at: Date.now(), status: 0, ms: err.ms, what: `${method} ${path}: ${err.message}` });
      this.d.ledger.noAnswer(e, op);
    }
    return e;
  }
}
