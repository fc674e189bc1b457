import { TaskAlreadyRunningError } from "./types.js";

interface Entry {
  controller: AbortController;
  /** Resolves when the runtime finished cleaning the task up. */
  done: Promise<void>;
}

/**
 * The tasks a runtime is running, by key: turns `stop(key)` and the caller's abort signal into one
 * signal per task, and lets `stop` wait until the runtime has actually stopped the task.
 */
export class TaskTracker {
  private readonly tasks = new Map<string, Entry>();

  /**
   * Registers a task. Its signal aborts on `stop(key)` or when `external` aborts. Call `end()`
   * (always, in a finally) when the task is over.
   */
  begin(key: string, external: AbortSignal): { signal: AbortSignal; end: () => void } {
    if (this.tasks.has(key)) throw new TaskAlreadyRunningError(key);
    const controller = new AbortController();
    let end!: () => void;
    const done = new Promise<void>((resolve) => (end = resolve));
    const onAbort = () => controller.abort(external.reason);
    if (external.aborted) controller.abort(external.reason);
    else external.addEventListener("abort", onAbort, { once: true });
    this.tasks.set(key, { controller, done });
    return {
      signal: controller.signal,
      end: () => {
        external.removeEventListener("abort", onAbort);
        this.tasks.delete(key);
        end();
      },
    };
  }

  async stop(key: string, reason = "stopped"): Promise<boolean> {
    const entry = this.tasks.get(key);
    if (!entry) return false;
    entry.controller.abort(reason);
    await entry.done;
    return true;
  }

  keys(): string[] {
    return [...this.tasks.keys()];
  }

  async stopAll(reason = "runtime closed"): Promise<void> {
    await Promise.all(this.keys().map((k) => this.stop(k, reason)));
  }
}
