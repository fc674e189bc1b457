export {
  taskKey,
  TaskAlreadyRunningError,
  CANCELLED_EXIT_CODE,
  type TaskRunSpec,
  type TaskHooks,
  type TaskResult,
  type TaskRuntime,
  type RuntimeName,
  type LogStream,
  type SegmentTimingSample,
} from "./types.js";
export { taskEnvironment, declaredPort } from "./environment.js";
export { LogTail, type LogTailOptions } from "./log-tail.js";
export { SimulatedRuntime, type SimulatedRuntimeOptions } from "./simulated.js";
export { ProcessRuntime, DEFAULT_INHERITED_ENV, signalExitCode, type ProcessRuntimeOptions } from "./process.js";
export { DockerRuntime, containerName, dockerRunArgs, type DockerRuntimeOptions } from "./docker.js";
export { KubernetesRuntime, type KubernetesRuntimeOptions } from "./kubernetes.js";
export { buildPod, podName, podLabels, podOutcome, TASK_CONTAINER, type PodOptions } from "./kubernetes-pod.js";
export { OnnxRuntime, type OnnxRuntimeOptions, type SegmentArtifacts, type SegmentTiming } from "./onnx.js";
export { serveTaskConfig, INFERENCE_ROLES, ServeConfigError, type ServeTaskConfig } from "./onnx-config.js";
export { createTaskRuntime, type RuntimeOptions } from "./factory.js";
export { TrainingRuntime, checkpointDirOf, type TrainingRuntimeOptions } from "./training/runtime.js";
export { CheckpointStore, type Checkpoint } from "./training/checkpoint.js";
export type { NodePower } from "./training/job.js";
export { REPORT_HEADER_BYTES } from "./training/wire.js";
