// What makes the demo serve for real: the resnet18 ONNX file (the reference builder's, seeded random
// weights), uploaded as the Model's artifact, and the fleet's runtime that serves inference tasks
// with onnxruntime from each node's own artifact fetch.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ModelArtifacts, type NodeAgent } from "@eiaas/agent";
import type { EiaasClient } from "@eiaas/client";
import { INFERENCE_ROLES, OnnxRuntime, type TaskHooks, type TaskResult, type TaskRunSpec, type TaskRuntime } from "@eiaas/runtime";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** The seed of the demo's weights: the same bytes on every machine and every start. */
const SEED = 1;
export const WEIGHTS_ANNOTATION = "eiaas.io/weights";
export const WEIGHTS_NOTE = `seeded random (scripts/models, seed ${SEED}): no trained weights can be downloaded here; the answers are not ImageNet classes`;

/**
 * The resnet18 ONNX file under `<dataDir>/models`, built once by the reference generator
 * (`npm run models:reference -- --only resnet18`, run as its own process: it is a script, not a
 * package) and reused by every later start.
 */
export async function demoResnet18(dataDir: string): Promise<Uint8Array> {
  const dir = join(dataDir, "models");
  const file = join(dir, "resnet18.onnx");
  const present = await stat(file).then(
    (s) => s.size > 0,
    () => false,
  );
  if (!present) {
    // The generator writes each file whole; a start killed midway leaves no half file behind it
    // that passes for the model (it writes resnet18.onnx in one call, then the exit heads).
    await promisify(execFile)(process.execPath, ["--import", "tsx", join(ROOT, "scripts/models/main.ts"), "--out", dir, "--only", "resnet18", "--seed", String(SEED)], { cwd: ROOT });
  }
  return new Uint8Array(await readFile(file));
}

/**
 * Uploads `bytes` as the Model's artifact unless it holds them already (same digest), and says in
 * the Model that its weights are random.
 */
export async function uploadArtifact(client: EiaasClient, namespace: string, name: string, bytes: Uint8Array): Promise<void> {
  const digest = createHash("sha256").update(bytes).digest("hex");
  const model = await client.get("models", name, { namespace });
  if (model.metadata.annotations?.[WEIGHTS_ANNOTATION] !== WEIGHTS_NOTE) {
    await client.patch("models", name, { metadata: { annotations: { [WEIGHTS_ANNOTATION]: WEIGHTS_NOTE } } }, { namespace });
  }
  if (model.status?.artifact?.sha256 === digest) return;
  await client.putModelArtifact(namespace, name, bytes);
}

/**
 * The demo fleet's runtime for what is not training: inference tasks (serve, head, tail) are served
 * for real by onnxruntime, each node's from its own artifact fetch (its agent's token, so it reads
 * only its own tasks' Models); everything else goes to `other` (simulated).
 */
export class DemoServingRuntime implements TaskRuntime {
  readonly name = "onnx" as const;
  private readonly onnx: OnnxRuntime;
  private readonly artifacts = new Map<string, ModelArtifacts>();

  constructor(
    private readonly o: {
      /** The fleet's agent of a node (registered before it takes any task). */
      agent: (node: string) => NodeAgent | undefined;
      /** Kept artifacts and cut segments, shared by the nodes (named by digest). */
      dir: string;
      other: TaskRuntime;
    },
  ) {
    this.onnx = new OnnxRuntime({ loadSegment: (task) => this.artifactsOf(task.nodeName).loadSegment(task) });
  }

  private artifactsOf(node: string): ModelArtifacts {
    let a = this.artifacts.get(node);
    if (!a) {
      a = new ModelArtifacts({
        client: () => {
          const agent = this.o.agent(node);
          if (!agent) throw new Error(`node ${node} has no agent in this fleet`);
          return agent.apiClient;
        },
        dir: this.o.dir,
      });
      this.artifacts.set(node, a);
    }
    return a;
  }

  start(task: TaskRunSpec, hooks: TaskHooks): Promise<TaskResult> {
    return INFERENCE_ROLES.has(task.role) ? this.onnx.start(task, hooks) : this.o.other.start(task, hooks);
  }

  async stop(key: string, reason?: string): Promise<boolean> {
    const [a, b] = await Promise.all([this.onnx.stop(key, reason), this.o.other.stop(key, reason)]);
    return a || b;
  }

  running(): string[] {
    return [...this.onnx.running(), ...this.o.other.running()];
  }

  async close(): Promise<void> {
    await Promise.all([this.onnx.close(), this.o.other.close()]);
  }
}
