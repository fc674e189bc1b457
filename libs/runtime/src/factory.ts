import { DockerRuntime, type DockerRuntimeOptions } from "./docker.js";
import { KubernetesRuntime, type KubernetesRuntimeOptions } from "./kubernetes.js";
import { OnnxRuntime, type OnnxRuntimeOptions } from "./onnx.js";
import { ProcessRuntime, type ProcessRuntimeOptions } from "./process.js";
import { SimulatedRuntime, type SimulatedRuntimeOptions } from "./simulated.js";
import { TrainingRuntime, type TrainingRuntimeOptions } from "./training/runtime.js";
import type { RuntimeName, TaskRuntime } from "./types.js";

export interface RuntimeOptions {
  simulated?: SimulatedRuntimeOptions;
  process?: ProcessRuntimeOptions;
  docker?: DockerRuntimeOptions;
  kubernetes?: KubernetesRuntimeOptions;
  onnx?: OnnxRuntimeOptions;
  training?: TrainingRuntimeOptions;
}

/** The runtime an agent's `--runtime` names, with that runtime's options. */
export function createTaskRuntime(name: RuntimeName, options: RuntimeOptions = {}): TaskRuntime {
  switch (name) {
    case "simulated":
      return new SimulatedRuntime(options.simulated);
    case "process":
      return new ProcessRuntime(options.process);
    case "docker":
      return new DockerRuntime(options.docker);
    case "kubernetes":
      return new KubernetesRuntime(options.kubernetes);
    case "onnx":
      return new OnnxRuntime(options.onnx);
    case "training":
      // Real training tasks in the agent's process; everything else simulated.
      return new TrainingRuntime({ checkpointDir: ".eiaas/training", ...options.training, fallback: options.training?.fallback ?? new SimulatedRuntime(options.simulated) });
    default: {
      const unknown: never = name;
      throw new Error(`unknown runtime ${String(unknown)}: one of simulated, process, docker, kubernetes, onnx, training`);
    }
  }
}
