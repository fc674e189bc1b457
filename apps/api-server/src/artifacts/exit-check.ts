/**
 * An early exit's head must read the cut tensor its exit follows: the tensor the Model's layer
 * `afterLayer` ends at (`spec.layers[afterLayer-1].tensor`, set by the import), with the shape and
 * element type the import infers for it from the stored base graph. Checked as the head's upload
 * streams in, before anything is stored. Both graphs are analysed as skeletons (onnx-skeleton.ts):
 * the API server never holds a model's weights.
 */
import { ONNX_INPUT_SHAPE_ANNOTATION } from "@eiaas/api";
import type { ArtifactInspector, ArtifactStore, StoredObject } from "@eiaas/db";
import { importOnnxModel, OnnxImportError, parseShape } from "@eiaas/onnx";
import { ApiError, invalid } from "../http/errors.js";
import { OnnxStreamCheck } from "./onnx-check.js";
import { OnnxSkeleton, SkeletonError, skeletonOf } from "./onnx-skeleton.js";

/** The tensor an exit's head reads. */
export interface CutTensor {
  afterLayer: number;
  tensor: string;
  shape: number[];
  /** Elements × element size: the element type, as the import counts it. */
  bytes: number;
  /** sha256 of the stored base graph the tensor was found in. */
  baseSha256: string;
}

/** Base graphs whose cut tensors are remembered (by digest and input shape): a few, they are small. */
const CACHED_GRAPHS = 16;

const fmt = (shape: number[]) => `[${shape.join(",")}]`;
const firstLine = (err: unknown) =>
  String((err as Error)?.message ?? err)
    .split("\n")[0]!
    .slice(0, 300);

/** The head does not read its cut tensor (422, cause `body`). */
export class ExitHeadMismatch extends Error {
  override readonly name = "ExitHeadMismatch";
}

/** The cut tensors of stored base graphs, analysed once per graph. */
export class CutTensors {
  private readonly cache = new Map<string, Map<string, { shape: number[]; bytes: number }>>();

  constructor(private readonly artifacts: ArtifactStore) {}

  /**
   * The cut tensor the head of the exit after layer `exit` of `model` must read. 422 when the layer
   * names no tensor or one that is no cut of the stored graph; 409 while the Model has no base
   * graph to check against (or one the import cannot analyse).
   */
  async of(model: StoredObject, exit: number): Promise<CutTensor> {
    const name = model.metadata.name;
    const field = `spec.layers[${exit - 1}].tensor`;
    const tensor = ((model.spec?.layers ?? []) as Array<{ tensor?: unknown }>)[exit - 1]?.tensor;
    if (typeof tensor !== "string" || !tensor) {
      throw invalid("Model", name, [
        { field, message: `names no tensor of the base graph, so an exit head after layer ${exit} cannot be checked against it: import the Model from its ONNX file (eictl model import)` },
      ]);
    }
    const { sha256, cuts } = await this.cutsOf(model);
    const cut = cuts.get(tensor);
    if (!cut) throw invalid("Model", name, [{ field, message: `"${tensor}" is not a cut tensor of the stored base graph (a tensor that alone connects the layers before and after it)` }]);
    return { afterLayer: exit, tensor, ...cut, baseSha256: sha256 };
  }

  private async cutsOf(model: StoredObject): Promise<{ sha256: string; cuts: Map<string, { shape: number[]; bytes: number }> }> {
    const name = model.metadata.name;
    const noBase = () =>
      new ApiError("Conflict", `model "${name}" has no base graph yet: upload it first (eictl model import); an exit head is checked against its cut tensor`, { name, kind: "models" });
    const record = await this.artifacts.head(model.metadata.uid, 0);
    if (!record) throw noBase();
    const shape = model.metadata.annotations?.[ONNX_INPUT_SHAPE_ANNOTATION];
    const key = (sha256: string) => `${sha256}|${shape ?? ""}`;
    const cached = this.cache.get(key(record.sha256));
    if (cached) return { sha256: record.sha256, cuts: cached };
    const opened = await this.artifacts.open(model.metadata.uid, 0);
    if (!opened) throw noBase();
    let cuts;
    try {
      const skeleton = await skeletonOf(opened.stream);
      cuts = importOnnxModel(skeleton, { allowExternalData: true, ...(shape ? { inputShape: parseShape(shape) } : {}) }).cuts;
    } catch (err) {
      opened.stream.destroy();
      // A database failure while reading is the server's; anything the graph makes the importer throw is the graph's.
      if (!(err instanceof OnnxImportError || err instanceof SkeletonError || err instanceof RangeError || err instanceof TypeError)) throw err;
      throw new ApiError("Conflict", `the stored base graph of model "${name}" cannot be analysed, so no exit head can be checked against it: ${firstLine(err)}`, { name, kind: "models" });
    }
    const map = new Map(cuts.map((c) => [c.tensor, { shape: c.shape, bytes: c.bytes }]));
    if (this.cache.size >= CACHED_GRAPHS) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key(opened.record.sha256), map);
    return { sha256: opened.record.sha256, cuts: map };
  }
}

/**
 * What an exit head's upload is fed through: the ONNX check of every upload, and at the end the
 * head's skeleton analysed with the cut tensor as its input (its declared shape must fit it, its
 * operators carry it through, its element type must be the tensor's).
 */
export class ExitHeadCheck implements ArtifactInspector {
  private readonly onnx = new OnnxStreamCheck();
  private readonly skeleton = new OnnxSkeleton();

  constructor(readonly cut: CutTensor) {}

  update(chunk: Uint8Array): void {
    this.onnx.update(chunk);
    try {
      this.skeleton.update(chunk);
    } catch (err) {
      throw err instanceof SkeletonError ? new ExitHeadMismatch(err.message) : err;
    }
  }

  finish(): void {
    this.onnx.finish();
    const { tensor, shape, bytes, afterLayer } = this.cut;
    const wanted = `the cut tensor "${tensor}" of shape ${fmt(shape)} after layer ${afterLayer} (spec.layers[${afterLayer - 1}].tensor)`;
    let head;
    try {
      head = importOnnxModel(this.skeleton.finish(), { allowExternalData: true, inputShape: shape });
    } catch (err) {
      // Whatever the importer makes of a hostile head, it is the body's fault: one line, never a 500.
      throw new ExitHeadMismatch(`the exit head does not read ${wanted}: ${firstLine(err)}`);
    }
    if (head.inputBytes !== bytes) {
      throw new ExitHeadMismatch(`the exit head's input "${head.inputName}" takes ${head.inputBytes} bytes for shape ${fmt(shape)}, ${wanted} is ${bytes}: another element type`);
    }
  }
}
