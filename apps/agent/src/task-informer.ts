import { backoffDelay, sleep } from "@eiaas/api";
import type { EiaasClient, Watch, WatchEventType } from "@eiaas/client";
import type { Logger } from "@eiaas/telemetry";

/** What the agent needs to know of a task bound to its node. */
export interface TaskView {
  namespace: string;
  name: string;
  uid: string;
  /** The attempt the control plane wants run (`status.attempt`, 1 when unset). */
  attempt: number;
  phase?: string;
  reason?: string;
}

/** `<namespace>/<name>`: how the agent and its heartbeats name a task. */
export function taskName(t: { namespace: string; name: string }): string {
  return `${t.namespace}/${t.name}`;
}

export interface TaskInformerHandlers {
  /** A task of the node was added, changed or deleted (deletions also when found by a re-list). */
  onChange(type: WatchEventType, task: TaskView): void;
  /** The cache holds a complete list again (first list, re-list after a 410 or a new watch). */
  onSync(): void;
}

export interface TaskInformerOptions {
  client: () => EiaasClient;
  nodeName: string;
  handlers: TaskInformerHandlers;
  logger: Logger;
  /**
   * Ceiling of the first pause before a watch that failed for good is started again; doubled per
   * failure until a list succeeds, up to 30 s, each pause drawn below it (full jitter: a fleet whose
   * watches the API refused together does not list again together). @defaultValue 1000
   */
  restartDelayMs?: number;
}

function view(o: any): TaskView {
  return {
    namespace: o?.metadata?.namespace ?? "",
    name: o?.metadata?.name ?? "",
    uid: o?.metadata?.uid ?? "",
    attempt: o?.status?.attempt ?? 1,
    ...(o?.status?.phase ? { phase: o.status.phase } : {}),
    ...(o?.status?.reason ? { reason: o.status.reason } : {}),
  };
}

/**
 * The node's tasks as the control plane has them, as client-go's informer keeps them: list
 * (`fieldSelector=spec.nodeName=<node>`), then watch from the list's resourceVersion, resume
 * from the last version seen after a broken stream, and re-list on 410 Gone — delivering what
 * changed meanwhile, deletions included. A watch that fails for good (an error answer, not a
 * network fault) is started again with a fresh list, and whatever that list no longer holds is
 * delivered as deleted: the cache converges however long the agent was away.
 */
export class TaskInformer {
  private readonly tasks = new Map<string, TaskView>();
  private readonly abort = new AbortController();
  private watch?: Watch;
  private listed = false;
  private failing = false;
  /** Watches that failed for good since the last complete list: the index of the next pause. */
  private restarts = 0;
  private readonly firstSync: Promise<void>;
  private resolveFirstSync!: () => void;

  constructor(private readonly o: TaskInformerOptions) {
    this.firstSync = new Promise((r) => (this.resolveFirstSync = r));
  }

  /** The task named `<namespace>/<name>`, as of {@link resourceVersion}. */
  get(name: string): TaskView | undefined {
    return this.tasks.get(name);
  }

  values(): IterableIterator<TaskView> {
    return this.tasks.values();
  }

  /** True once a complete list was delivered. */
  get synced(): boolean {
    return this.listed;
  }

  /** The resourceVersion the cache reflects (bookmarks move it on while nothing changes here). */
  get resourceVersion(): bigint | undefined {
    const rv = this.watch?.resourceVersion;
    return rv && /^\d+$/.test(rv) ? BigInt(rv) : undefined;
  }

  start(): void {
    void this.run();
  }

  /** Resolves once the first complete list is in (or the informer stopped). */
  whenSynced(): Promise<void> {
    return this.firstSync;
  }

  stop(): void {
    this.abort.abort();
    this.resolveFirstSync();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      // A fresh watch lists first: whatever the cache holds that the list does not was deleted.
      const listedNow = new Set<string>();
      let fresh = true;
      const w = this.o.client().watch("tasks", {
        fieldSelector: `spec.nodeName=${this.o.nodeName}`,
        signal,
        // Network faults are waited out by the watch itself (it resumes from its version).
        reconnectTimeoutMs: Number.POSITIVE_INFINITY,
        onSync: () => {
          if (fresh) {
            fresh = false;
            for (const [name, t] of [...this.tasks]) {
              if (listedNow.has(name)) continue;
              this.tasks.delete(name);
              this.o.handlers.onChange("DELETED", t);
            }
          }
          this.listed = true;
          this.restarts = 0;
          this.resolveFirstSync();
          this.o.handlers.onSync();
        },
        onReconnect: (info) => {
          if (info.error && !this.failing) this.o.logger.debug({ err: info.error, node: this.o.nodeName }, "task watch interrupted; resuming");
        },
      });
      this.watch = w;
      try {
        for await (const ev of w) {
          const t = view(ev.object);
          const name = taskName(t);
          if (fresh) listedNow.add(name);
          if (ev.type === "DELETED") this.tasks.delete(name);
          else this.tasks.set(name, t);
          this.o.handlers.onChange(ev.type, t);
        }
        this.failing = false;
      } catch (err) {
        if (signal.aborted) return;
        if (!this.failing) this.o.logger.warn({ err, node: this.o.nodeName }, "task watch failed; listing again");
        this.failing = true;
        const first = this.o.restartDelayMs ?? 1_000;
        await sleep(backoffDelay(this.restarts++, { initialMs: first, maxMs: Math.max(first, 30_000) }), signal);
      }
    }
  }
}
