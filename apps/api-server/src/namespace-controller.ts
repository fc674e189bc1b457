import { KINDS, TENANT_FINALIZER } from "@eiaas/api";
import type { ObjectStore, StoredObject, TokenStore, WriteOp } from "@eiaas/db";
import type { Logger } from "@eiaas/telemetry";
import { TENANT } from "./resources/validate.js";

const NAMESPACED = KINDS.filter((k) => k.namespaced);
const BATCH = 500;

/**
 * Empties the namespaces of Tenants marked for deletion, then lifts their finalizer so the Tenant
 * goes away (Kubernetes' namespace controller). Level-triggered: every pass re-reads Postgres, so
 * a crash half-way only delays the rest.
 */
export class NamespaceController {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly deps: { store: ObjectStore; tokens: TokenStore; logger: Logger; intervalMs?: number },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.kick(), this.deps.intervalMs ?? 1_000);
    this.timer.unref();
  }

  /** Runs a pass now (after a Tenant delete) unless one is running. */
  kick(): Promise<void> {
    this.running ??= this.pass()
      .catch((err) => this.deps.logger.warn({ err }, "namespace cleanup pass failed"))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  async pass(): Promise<void> {
    const tenants = await this.deps.store.list(TENANT, {});
    for (const t of tenants.items) {
      if (t.metadata.deletionTimestamp && t.metadata.finalizers?.includes(TENANT_FINALIZER)) await this.finalize(t);
    }
  }

  private async finalize(tenant: StoredObject): Promise<void> {
    const ns = tenant.metadata.name;
    // Passes until one finds nothing: a create admitted while the pass ran (admission reads the
    // tenant from the API's cache, as Kubernetes' namespace admission reads an informer's) is
    // removed by the next pass.
    for (let found = 1; found > 0; ) {
      found = 0;
      for (const kind of NAMESPACED) {
        for (;;) {
          const page = await this.deps.store.list(kind, { namespace: ns, limit: BATCH });
          if (page.items.length === 0) break;
          found += page.items.length;
          // Missing-ok: an object deleted since the page was read (by its user; a task by the
          // scheduler's garbage collector, its workload having gone a page before) is already gone,
          // and must not fail the page.
          const ops: WriteOp[] = page.items.map((object) => ({ type: "delete", kind, object, missingOk: true }));
          await this.deps.store.applyBatch(ops);
        }
      }
    }
    await this.deps.tokens.revokeAll({ role: "tenant", tenant: ns });
    const finalizers = (tenant.metadata.finalizers ?? []).filter((f) => f !== TENANT_FINALIZER);
    await this.deps.store.update(TENANT, tenant, { ...tenant, metadata: { ...tenant.metadata, finalizers } });
    this.deps.logger.info({ tenant: ns }, "namespace emptied; tenant deleted");
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
