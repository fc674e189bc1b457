import { KINDS, TENANT_FINALIZER } from "@eiaas/api";
import type { ObjectStore, StoredObject, TokenStore, WriteOp } from "@eiaas/db";
import type { Logger } from "@eiaas/telemetry";
import { TOKEN_CACHE_MS } from "./http/auth.js";
import { TENANT } from "./resources/validate.js";

const NAMESPACED = KINDS.filter((k) => k.namespaced);
const BATCH = 500;

/**
 * Empties the namespaces of Tenants marked for deletion, then lifts their finalizer so the Tenant
 * goes away (Kubernetes' namespace controller). Level-triggered: every pass re-reads Postgres, so
 * a crash half-way only delays the rest.
 */
export interface NamespaceControllerDeps {
  store: ObjectStore;
  tokens: TokenStore;
  logger: Logger;
  /** Pass period. Default 1 000 ms. */
  intervalMs?: number;
  /**
   * How long after revoking a deleted tenant's tokens the tenant is kept: every API process's
   * cached verification of them has expired by then. Default TOKEN_CACHE_MS + 500 ms.
   */
  revocationMs?: number;
}

export class NamespaceController {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private again = false;
  private wake?: () => void;

  constructor(private readonly deps: NamespaceControllerDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.kick(), this.deps.intervalMs ?? 1_000);
    this.timer.unref();
  }

  /**
   * Runs a pass now (after a Tenant delete), or right after the running one: a pass may take a
   * while (it waits out the token cache), and a tenant deleted meanwhile was not in its list.
   */
  kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass().catch((err) => this.deps.logger.warn({ err }, "namespace cleanup pass failed"));
      } while (this.again && !this.stopped);
    })().finally(() => {
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
    if (!(await this.empty(tenant))) return;
    await this.deps.tokens.revokeAll({ role: "tenant", tenant: ns });
    // Another API process may have verified one of those tokens a moment before and trusts it for
    // TOKEN_CACHE_MS: the tenant stays (Terminating, its name taken) until that has run out, so no
    // tenant created again under the name can meet a token of this one. What such a token wrote
    // meanwhile is emptied with the rest.
    if (!(await this.sleep(this.deps.revocationMs ?? TOKEN_CACHE_MS + 500))) return;
    if (!(await this.empty(tenant))) return;
    // Read again: it may have been written meanwhile (or finalized by another API process).
    const latest = await this.deps.store.get(TENANT, undefined, ns);
    if (!latest || latest.metadata.uid !== tenant.metadata.uid) return;
    const finalizers = (latest.metadata.finalizers ?? []).filter((f) => f !== TENANT_FINALIZER);
    await this.deps.store.update(TENANT, latest, { ...latest, metadata: { ...latest.metadata, finalizers } });
    this.deps.logger.info({ tenant: ns }, "namespace emptied; tenant deleted");
  }

  /** Waits `ms`; false when the controller was stopped meanwhile. */
  private sleep(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(!this.stopped);
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve(false);
      };
    });
  }

  /**
   * Deletes every object of the namespace of `tenant` (being deleted); false when that tenant is
   * gone — finalized by another API process's controller — and the namespace no longer its own.
   * Each page is deleted only once the tenant was read, still there, after the page was listed:
   * what the page holds existed while the name was this tenant's, so it is this tenant's. A
   * controller that waited out the token cache while another finished used to empty the tenant
   * created again under the name meanwhile (its objects acknowledged, then gone).
   */
  private async empty(tenant: StoredObject): Promise<boolean> {
    const ns = tenant.metadata.name;
    // Passes until one finds nothing: a create admitted while the pass ran (admission reads the
    // tenant from the API's cache, as Kubernetes' namespace admission reads an informer's) is
    // removed by the next pass.
    for (let found = 1; found > 0;) {
      found = 0;
      for (const kind of NAMESPACED) {
        for (;;) {
          const page = await this.deps.store.list(kind, { namespace: ns, limit: BATCH });
          if (page.items.length === 0) break;
          if ((await this.deps.store.get(TENANT, undefined, ns))?.metadata.uid !== tenant.metadata.uid) return false;
          found += page.items.length;
          // Missing-ok: an object deleted since the page was read (by its user; a task by the
          // scheduler's garbage collector, its workload having gone a page before) is already gone,
          // and must not fail the page.
          const ops: WriteOp[] = page.items.map((object) => ({ type: "delete", kind, object, missingOk: true }));
          await this.deps.store.applyBatch(ops);
        }
      }
    }
    return true;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.wake?.();
  }
}
