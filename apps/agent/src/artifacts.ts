import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { ONNX_INPUT_SHAPE_ANNOTATION, type ModelLayer } from "@eiaas/api";
import type { AnyObject, EiaasClient } from "@eiaas/client";
import { extractSegment, type SegmentRange } from "@eiaas/onnx";
import type { SegmentArtifacts, TaskRunSpec } from "@eiaas/runtime";

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

  /**
   * The ONNX bytes of the task's layer range of its Model (the whole model when it names none).
   * A range that takes in an early exit's head (chain layer `exitAfter + 1`) gets the head's own
   * file, the Model's exit artifact: after the base layers it runs as the segment's exit head, or
   * alone as the segment when the range is the head only.
   */
  async loadSegment(task: TaskRunSpec): Promise<Uint8Array | SegmentArtifacts> {
    const modelName = task.env.EIAAS_MODEL;
    if (!modelName) throw new ArtifactError(`task ${task.namespace}/${task.name} names no model (env EIAAS_MODEL): cannot fetch its artifact`);
    // The planner names the model itself "base" among its variants.
    const variant = task.env.EIAAS_VARIANT;
    if (variant && variant !== "base") {
      throw new ArtifactError(`task ${task.namespace}/${task.name} runs variant "${variant}" of model ${modelName}: only the base model's ONNX file is stored`);
    }
    const model = await this.model(task.namespace, modelName);
    const exitAfter = exitHeadOf(task, model.spec.layers?.length ?? 0);
    if (exitAfter === undefined) return this.baseSegment(task, model);
    const head = new Uint8Array(await readFile((await this.artifact(task.namespace, model, exitAfter)).path));
    // The range is the head alone (a split right at the exit): the head is the segment.
    if (task.layers!.from > exitAfter) return head;
    const segment = await this.baseSegment({ ...task, layers: { from: task.layers!.from, to: exitAfter } }, model);
    return { segment, exitHead: head };
  }

  /** The base graph's layers of the task's range (the whole file when it names none). */
  private async baseSegment(task: TaskRunSpec, model: AnyObject): Promise<Uint8Array> {
    const modelName: string = model.metadata.name;
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

  /**
   * A verified local copy of the Model's current artifact (downloaded unless already kept): its
   * base graph, or with `exitAfter` the head of its early exit after that layer.
   */
  async artifact(namespace: string, model: AnyObject, exitAfter = 0): Promise<{ path: string; sha256: string }> {
    const name: string = model.metadata.name;
    const stated = statedDigest(model, exitAfter);
    if (typeof stated !== "string" || !HEX64.test(stated)) {
      throw new ArtifactError(
        exitAfter
          ? `model ${namespace}/${name} has no head for its early exit after layer ${exitAfter}: upload it (eictl model import --exit-head ${exitAfter}=HEAD.onnx)`
          : `model ${namespace}/${name} has no artifact: upload its ONNX file (eictl model import)`,
      );
    }
    const path = this.pathOf(stated);
    if (await exists(path)) return { path, sha256: stated };
    // One download per digest, however many tasks ask at once.
    let pending = this.downloads.get(stated);
    if (!pending) {
      pending = this.download(namespace, name, stated, exitAfter).finally(() => this.downloads.delete(stated));
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
  private async download(namespace: string, name: string, expected: string, exitAfter: number): Promise<string> {
    await mkdir(join(this.o.dir, "sha256"), { recursive: true });
    let got;
    try {
      got = await this.o.client().getModelArtifact(namespace, name, exitAfter ? { exit: exitAfter } : {});
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
        const now = statedDigest(await this.model(namespace, name), exitAfter);
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

/** The digest the Model states for its base graph (0) or the head of its exit after `exitAfter`. */
function statedDigest(model: AnyObject, exitAfter: number): unknown {
  if (!exitAfter) return model.status?.artifact?.sha256;
  const entries: unknown = model.status?.exitArtifacts;
  return Array.isArray(entries) ? entries.find((e) => e?.afterLayer === exitAfter)?.sha256 : undefined;
}

/**
 * The exit whose head the task's range takes in (chain layer `exitAfter + 1` of a chain ending at
 * an early exit, `EIAAS_EXIT_AFTER_LAYER` below the Model's layer count), or undefined when its
 * range is base layers only.
 */
function exitHeadOf(task: TaskRunSpec, baseLayers: number): number | undefined {
  const exitAfter = Number(task.env.EIAAS_EXIT_AFTER_LAYER);
  if (!(Number.isInteger(exitAfter) && exitAfter >= 1 && exitAfter < baseLayers) || !task.layers || task.layers.to <= exitAfter) return undefined;
  if (task.layers.to !== exitAfter + 1 || !(task.layers.from >= 1 && task.layers.from <= exitAfter + 1)) {
    throw new ArtifactError(`task ${task.namespace}/${task.name}: layers ${task.layers.from}..${task.layers.to} do not fit a chain that ends at the exit head after layer ${exitAfter}`);
  }
  return exitAfter;
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
