import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { ONNX_INPUT_SHAPE_ANNOTATION, type ModelLayer } from "@eiaas/api";
import type { AnyObject, EiaasClient } from "@eiaas/client";
import { extractSegment, type SegmentRange } from "@eiaas/onnx";
import type { TaskRunSpec } from "@eiaas/runtime";

/** Why a task's segment could not be had; the runtime reports the message as the task's failure. */
export class ArtifactError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArtifactError";
  }
}

export interface ModelArtifactsOptions {
  /** The agent's API client (its node's token): a function, as the agent renews its client. */
  client: () => EiaasClient;
  /** Where verified artifacts and cut segments are kept (`<state dir>/artifacts`). */
  dir: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Writes `bytes` to `path` through a temporary file and a rename: a reader never sees half of it. */
async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${randomUUID()}.part`;
  try {
    await writeFile(tmp, bytes, { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * The agent's side of Model artifacts: fetches a task's Model's ONNX file with the agent's own
 * token (the API lets it read only the Models of its node's unfinished tasks), verifies its sha256
 * against the digest the server states (the ETag, and `status.artifact` of the Model), keeps it
 * under `dir/sha256/<digest>` so a file is downloaded once per node whatever uses it, and cuts the
 * task's layer range out of it (`extractSegment`), kept as `dir/segments/<digest>.<from>-<to>.onnx`.
 * `loadSegment` is what the onnx runtime is given.
 */
export class ModelArtifacts {
  private readonly downloads = new Map<string, Promise<string>>();

  constructor(private readonly o: ModelArtifactsOptions) {}

  /** The ONNX bytes of the task's layer range of its Model (the whole model when it names none). */
  async loadSegment(task: TaskRunSpec): Promise<Uint8Array> {
    const modelName = task.env.EIAAS_MODEL;
    if (!modelName) throw new ArtifactError(`task ${task.namespace}/${task.name} names no model (env EIAAS_MODEL): cannot fetch its artifact`);
    // The planner names the model itself "base" among its variants.
    const variant = task.env.EIAAS_VARIANT;
    if (variant && variant !== "base") {
      throw new ArtifactError(`task ${task.namespace}/${task.name} runs variant "${variant}" of model ${modelName}: only the base model's ONNX file is stored`);
    }
    const model = await this.model(task.namespace, modelName);
    refuseExitHead(task, modelName, model.spec.layers?.length ?? 0);
    const { path, sha256 } = await this.artifact(task.namespace, model);
    if (!task.layers) return new Uint8Array(await readFile(path));
    const { from, to } = task.layers;
    if (!Number.isInteger(from) || !Number.isInteger(to)) throw new ArtifactError(`task ${task.namespace}/${task.name} has a layer range that is not whole numbers`);
    // The whole chain is the file itself: no cut, no second copy.
    if (from === 1 && to === (model.spec.layers?.length ?? 0)) return new Uint8Array(await readFile(path));
    const segDir = join(this.o.dir, "segments");
    const segPath = join(segDir, `${sha256}.${from}-${to}.onnx`);
    if (await exists(segPath)) return new Uint8Array(await readFile(segPath));
    const shape = model.metadata.annotations?.[ONNX_INPUT_SHAPE_ANNOTATION] as string | undefined;
    let segment: Uint8Array;
    try {
      segment = extractSegment(new Uint8Array(await readFile(path)), segmentRange(model.spec.layers ?? [], from, to), shape ? { inputShape: shape.split("x").map(Number) } : {});
    } catch (err) {
      throw new ArtifactError(`cannot cut layers ${from}..${to} of model ${task.namespace}/${modelName} (artifact ${sha256}): ${(err as Error).message}`);
    }
    await mkdir(segDir, { recursive: true });
    await writeAtomically(segPath, segment);
    return segment;
  }

  private async model(namespace: string, name: string): Promise<AnyObject> {
    try {
      return await this.o.client().get("models", name, { namespace });
    } catch (err) {
      throw new ArtifactError(`cannot read model ${namespace}/${name}: ${(err as Error).message}`);
    }
  }

  /** A verified local copy of the Model's current artifact (downloaded unless already kept). */
  async artifact(namespace: string, model: AnyObject): Promise<{ path: string; sha256: string }> {
    const name: string = model.metadata.name;
    const stated: unknown = model.status?.artifact?.sha256;
    if (typeof stated !== "string" || !HEX64.test(stated)) {
      throw new ArtifactError(`model ${namespace}/${name} has no artifact: upload its ONNX file (eictl model import)`);
    }
    const path = this.pathOf(stated);
    if (await exists(path)) return { path, sha256: stated };
    // One download per digest, however many tasks ask at once.
    let pending = this.downloads.get(stated);
    if (!pending) {
      pending = this.download(namespace, name, stated).finally(() => this.downloads.delete(stated));
      this.downloads.set(stated, pending);
    }
    const sha256 = await pending;
    return { path: this.pathOf(sha256), sha256 };
  }

  private pathOf(sha256: string): string {
    return join(this.o.dir, "sha256", sha256);
  }

  /**
   * Streams the artifact to a temporary file while hashing it and keeps it only when its digest is
   * the one the server states for it. A Model uploaded again between the read of the Model and
   * this download is served with the new digest (its ETag): that file, verified, is kept.
   */
  private async download(namespace: string, name: string, expected: string): Promise<string> {
    await mkdir(join(this.o.dir, "sha256"), { recursive: true });
    let got;
    try {
      got = await this.o.client().getModelArtifact(namespace, name);
    } catch (err) {
      throw new ArtifactError(`cannot fetch the artifact of model ${namespace}/${name}: ${(err as Error).message}`);
    }
    if (got.notModified) throw new ArtifactError(`the server answered 304 to an unconditional fetch of model ${namespace}/${name}'s artifact`);
    const announced = got.sha256;
    if (!HEX64.test(announced)) {
      got.stream.destroy();
      throw new ArtifactError(`the artifact of model ${namespace}/${name} came without its digest (ETag)`);
    }
    const tmp = join(this.o.dir, "sha256", `${randomUUID()}.part`);
    const hash = createHash("sha256");
    got.stream.on("data", (c: Buffer) => hash.update(c));
    try {
      await pipeline(got.stream, createWriteStream(tmp, { mode: 0o600 }));
      const digest = hash.digest("hex");
      if (digest !== announced) throw new ArtifactError(`the artifact of model ${namespace}/${name} is damaged: sha256 ${digest}, the server states ${announced}`);
      if (digest !== expected) {
        // Not the digest the Model stated a moment ago: only a newer upload may explain it.
        const now = (await this.model(namespace, name)).status?.artifact?.sha256;
        if (now !== digest) throw new ArtifactError(`the artifact of model ${namespace}/${name} has sha256 ${digest}, but the model states ${String(now)}`);
      }
      await rename(tmp, this.pathOf(digest));
      return digest;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (err instanceof ArtifactError) throw err;
      throw new ArtifactError(`the download of model ${namespace}/${name}'s artifact failed: ${(err as Error).message}`);
    }
  }
}

/**
 * A task whose chain ends at an early exit and whose range takes in the exit's head (chain layer
 * `exitAfterLayer + 1`): the Model stores one ONNX file, its base graph, and no exit head's graph
 * (`eictl model import --exit-head` checks the head and records its costs, but does not upload it),
 * so such a task cannot be served; cutting base layers in its place would answer wrongly.
 */
function refuseExitHead(task: TaskRunSpec, modelName: string, baseLayers: number): void {
  const exitAfter = Number(task.env.EIAAS_EXIT_AFTER_LAYER);
  if (!(Number.isInteger(exitAfter) && exitAfter >= 1 && exitAfter < baseLayers) || !task.layers || task.layers.to <= exitAfter) return;
  throw new ArtifactError(
    `task ${task.namespace}/${task.name} runs the early exit after layer ${exitAfter} of model ${modelName}: the Model stores no exit head's ONNX file, only its base graph`,
  );
}

/**
 * The part of the file a task's layers are: between the cut tensors the import recorded for the
 * Model's layers (exactly where they were cut), or by layer numbers for a table without them.
 */
export function segmentRange(layers: readonly ModelLayer[], from: number, to: number): SegmentRange {
  const out = layers[to - 1]?.tensor;
  const before = from > 1 ? layers[from - 2]?.tensor : undefined;
  if (out && (from === 1 || before)) return { ...(before ? { inputTensor: before } : {}), outputTensor: out };
  return { fromLayer: from, toLayer: to };
}
