// Early-exit heads (BranchyNet, Edgent): a separate ONNX graph that reads the cut tensor after a
// given layer of the base model and outputs the exit's prediction.
import type { ExitHead } from "@eiaas/api";
import { analyse } from "./analysis.js";
import { tensorBytes } from "./cuts.js";
import { OnnxImportError } from "./errors.js";
import { importAnalysis, type ImportOptions } from "./import.js";
import { parameterBytes, toMiB } from "./layers.js";
import { fmt } from "./shapes/context.js";
import { elementOpsOf, flopsByOperatorOf } from "./operators.js";

export interface ExitHeadOptions extends ImportOptions {
  /** Base layers run before the head (1-based, as `spec.exits[].afterLayer`). */
  afterLayer: number;
}

/** An exit head checked against its base model: the `spec.exits[]` entry minus its accuracy. */
export interface AttachedExit {
  afterLayer: number;
  /** The base model's cut tensor the head reads. */
  tensor: string;
  shape: number[];
  head: Pick<ExitHead, "flops" | "flopsByOperator" | "elementOps" | "outputBytes" | "memoryMiB">;
}

/**
 * Validates `headBytes` as an exit head after layer `afterLayer` of `baseBytes` (same layer options
 * as the import): the head's single input must take the cut tensor's shape and element type. Its
 * flops, output bytes and parameter memory follow the conventions of {@link importOnnxModel}.
 */
export function attachExitHead(baseBytes: Uint8Array, headBytes: Uint8Array, opts: ExitHeadOptions): AttachedExit {
  const base = analyse(baseBytes, opts);
  const { ranges } = importAnalysis(base, opts.coalesce);
  const after = opts.afterLayer;
  if (!Number.isInteger(after) || after < 1 || after >= ranges.length) {
    throw new OnnxImportError("InvalidRange", `afterLayer ${after} must be between 1 and ${ranges.length - 1} (the model has ${ranges.length} layers)`);
  }
  const layer = ranges[after - 1]!;
  const tensor = layer.outputs[0]!;
  const cut = base.inferred.types.get(tensor)!;
  let head;
  try {
    head = analyse(headBytes, { inputShape: cut.shape, allowExternalData: opts.allowExternalData });
  } catch (e) {
    if (!(e instanceof OnnxImportError) || e.reason !== "ShapeMismatch") throw e;
    throw new OnnxImportError("ShapeMismatch", `exit head: ${e.message}; it must read "${tensor}" of shape ${fmt(cut.shape)} after layer ${after} (${layer.name})`);
  }
  if (head.inferred.input.elemType !== cut.elemType) {
    throw new OnnxImportError("ShapeMismatch", `exit head: input element type ${head.inferred.input.elemType} differs from "${tensor}" (${cut.elemType})`);
  }
  const macs = head.inferred.macs.reduce((x, y) => x + y, 0);
  const nodes = head.graph.nodes.length;
  const outputBytes = head.graph.outputs.reduce((sum, o) => sum + tensorBytes(head.inferred.types.get(o)!, o), 0);
  return {
    afterLayer: after,
    tensor,
    shape: cut.shape,
    head: {
      flops: 2 * macs,
      ...optional("flopsByOperator", flopsByOperatorOf(head, 0, nodes)),
      ...optional("elementOps", elementOpsOf(head, 0, nodes)),
      outputBytes,
      memoryMiB: toMiB(parameterBytes(head, head.graph.nodes)),
    },
  };
}

const optional = <K extends string, V>(key: K, value: V | undefined) => (value ? { [key]: value } : {}) as Partial<Record<K, V>>;
