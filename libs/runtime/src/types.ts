import type { ResourceRequest, ServingCounts, TaskRole, TaskTemplate, TrainingProgress } from "@eiaas/api";

/**
 * What a runtime needs to run one attempt of a Task: the Task's runtime view as dispatched to the
 * node (structurally a subset of the queue's task job payload).
 */
export interface TaskRunSpec {
  namespace: string;
  name: string;
  uid: string;
  attempt: number;
  nodeName: string;
  role: TaskRole;
  layers?: { from: number; to: number };
  template: TaskTemplate;
  env: Record<string, string>;
  resources: ResourceRequest;
  /** How long the simulated runtime runs it (ms); absent = until stopped. Other runtimes ignore it. */
  expectedRunMs?: number;
}

export type LogStream = "stdout" | "stderr" | "system";

export interface TaskHooks {
  /** One line of the task's output (without its newline). `system` lines come from the runtime. */
  onLog(line: string, stream: LogStream): void;
  /** Aborting it stops the task (as {@link TaskRuntime.stop} does). */
  signal: AbortSignal;
  /** Called once when the task is actually running (process spawned, Pod Running, ...). */
  onStarted?(info: { endpoint?: string }): void;
  /**
   * A running task's progress (an aggregator's training KPIs, a serving entry's request counts):
   * the agent writes it into the task's status.
   */
  onProgress?(progress: TaskProgress): void;
  /**
   * Another task of the same workload as the agent may see it (its endpoint): how a participant
   * finds its aggregator. Undefined when it cannot be read now.
   */
  lookupTask?(name: string): Promise<{ endpoint?: string; phase?: string } | undefined>;
  /**
   * A serving runtime calls it with what one request took for a layer range of its task (chain
   * layers, 1-based, inclusive): the agent aggregates these into medians and reports them, and the
   * planner uses them (issue 20 part 7). Timings of another task than the one run are ignored.
   */
  recordSegmentTiming?(timing: SegmentTimingSample): void;
}

/** What a running task reports beyond its phase: one of these at a time. */
export type TaskProgress = { training: TrainingProgress; serving?: undefined } | { serving: ServingCounts; training?: undefined };

/** One measured request of a serving task, for layers `fromLayer..toLayer`. */
export interface SegmentTimingSample {
  task: { namespace: string; name: string };
  fromLayer: number;
  toLayer: number;
  ms: number;
}

/**
 * How a task ended. Task-level failures (a bad image, a missing command, a non-zero exit, a
 * cancellation) resolve with a result; `start` rejects only when it cannot even try (a task with
 * the same key already running).
 */
export interface TaskResult {
  exitCode: number;
  /** Machine-readable cause when it did not succeed: Error, Cancelled, StartError, OOMKilled, ... */
  reason?: string;
  message?: string;
  /** Where the task served, when it declared a port (`EIAAS_PORT`) or the runtime knows its address. */
  endpoint?: string;
}

export type RuntimeName = "simulated" | "process" | "docker" | "kubernetes" | "onnx" | "training";

/** Runs tasks on this node. One instance serves many tasks at once. */
export interface TaskRuntime {
  readonly name: RuntimeName;
  /** Runs the task to completion (or until stopped). */
  start(task: TaskRunSpec, hooks: TaskHooks): Promise<TaskResult>;
  /** Stops a running task by its {@link taskKey}; false when no such task runs. Resolves once it is stopped. */
  stop(taskKey: string, reason?: string): Promise<boolean>;
  /** Keys of the tasks running now. */
  running(): string[];
  /** Stops every running task and releases the runtime's resources. */
  close(): Promise<void>;
}

/** Identifies one attempt of a task on a node: `<namespace>/<name>/<attempt>`. */
export function taskKey(task: Pick<TaskRunSpec, "namespace" | "name" | "attempt">): string {
  return `${task.namespace}/${task.name}/${task.attempt}`;
}

/** `start` was called for a task attempt that is already running on this runtime. */
export class TaskAlreadyRunningError extends Error {
  override readonly name = "TaskAlreadyRunningError";
  constructor(readonly key: string) {
    super(`task ${key} is already running`);
  }
}

/** Exit code reported for a task stopped on request: 128 + SIGTERM, as a terminated container. */
export const CANCELLED_EXIT_CODE = 143;
