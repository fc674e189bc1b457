import { bindTasks, isRowError, type BindGroup, type BindOutcome, type StoredObject } from "@eiaas/db";
import type pg from "pg";

export interface BindPipelineOptions {
  /** Enqueues what a bind committed; runs while the next chunk is planned and bound. */
  dispatch?: (tasks: StoredObject[]) => Promise<unknown>;
  /** Tasks per bind transaction: planning goes on while a full chunk is bound. Default 1 000. */
  chunkTasks?: number;
}

/**
 * kube-scheduler binds asynchronously while its scheduling loop goes on; so does a cycle here. Plans
 * are handed over as they are made; every `chunkTasks` tasks go to Postgres in one bind transaction
 * (binders run one at a time, in plan order) while planning continues on the CPU, and what each
 * bind committed goes to the node queues while the next one runs. A bind that fails on its rows
 * (one workload's tasks clash with a task that exists, break a check, ...) is bound again in
 * halves until the failing groups stand alone: they fail (`failed` outcomes), every other group is
 * bound — one workload's failure is its own. A bind that fails otherwise (Postgres away) stops the
 * ones after it and fails the cycle. A failed enqueue is reported after the cycle (the repair pass
 * re-enqueues).
 */
export class BindPipeline {
  private pending: BindGroup[] = [];
  private pendingTasks = 0;
  private binding: Promise<void> = Promise.resolve();
  private dispatching: Promise<void> = Promise.resolve();
  private bindError?: unknown;
  private dispatchError?: unknown;
  private readonly outcomes: BindOutcome[] = [];
  private inFlight = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: BindPipelineOptions = {},
  ) {}

  add(group: BindGroup): void {
    this.pending.push(group);
    this.pendingTasks += group.tasks.length;
    if (this.pendingTasks >= (this.options.chunkTasks ?? 1_000)) this.flush();
  }

  /** Whether a bind or an enqueue is under way (a planning loop should let its I/O advance). */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** Binds what is left and waits for every bind; the outcomes in plan order. */
  async finish(): Promise<BindOutcome[]> {
    if (this.pending.length) this.flush();
    await this.binding;
    if (this.bindError !== undefined) throw this.bindError;
    return this.outcomes;
  }

  /** Waits for every enqueue; the first enqueue error, if any. */
  async dispatched(): Promise<unknown> {
    await this.dispatching;
    return this.dispatchError;
  }

  private flush(): void {
    const groups = this.pending.splice(0);
    this.pendingTasks = 0;
    this.inFlight++;
    this.binding = this.binding.then(async () => {
      if (this.bindError !== undefined) return;
      try {
        const out = await this.bindIsolating(groups);
        this.outcomes.push(...out);
        const bound = out.flatMap((o) => (o.bound ? o.tasks : []));
        const dispatch = this.options.dispatch;
        if (dispatch && bound.length) {
          this.dispatching = this.dispatching
            .then(() => dispatch(bound))
            .then(
              () => undefined,
              (err: unknown) => {
                this.dispatchError ??= err;
              },
            );
        }
      } catch (err) {
        this.bindError = err;
      } finally {
        this.inFlight--;
      }
    });
  }

  /**
   * Binds `groups`; when that fails on their rows, binds each half apart (each bind is its own
   * transaction and re-reads usage, so the halves are judged as one bind would judge them). The
   * success path is one bind; k failing groups among n cost about 2·k·log2(n) more.
   */
  private async bindIsolating(groups: readonly BindGroup[]): Promise<BindOutcome[]> {
    try {
      return await bindTasks(this.pool, groups);
    } catch (err) {
      if (!isRowError(err)) throw err;
      if (groups.length === 1) return [{ id: groups[0]!.id, bound: false, failed: true, reason: bindFailure(err) }];
      const half = Math.ceil(groups.length / 2);
      return [...(await this.bindIsolating(groups.slice(0, half))), ...(await this.bindIsolating(groups.slice(half)))];
    }
  }
}

/**
 * What a group whose bind failed on its own rows is told: the error, and for a key the one that
 * clashed (`Key (namespace, name)=(...) already exists.`). The transaction held only this group's
 * rows, so neither is about another tenant's objects. Other details (a failing row's every column)
 * are left out.
 */
function bindFailure(err: unknown): string {
  const e = err as { message?: string; detail?: string };
  const detail = typeof e.detail === "string" && e.detail.startsWith("Key (") ? ` (${e.detail})` : "";
  return `bind failed: ${e.message ?? String(err)}${detail}`.slice(0, 1_000);
}
