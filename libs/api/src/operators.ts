import { z } from "zod";

/**
 * Operator classes whose speed differs from a dense convolution's enough to matter for latency
 * on a CPU (docs/dataplane.md, "Operator classes"): 1×1 convolutions, depthwise convolutions
 * (one filter per channel), and matrix multiplies (Gemm/MatMul — at batch 1 a fully connected
 * layer reads each weight once, so it runs at memory speed, several times below a convolution's
 * GFLOPS). Everything else (k×k convolutions, grouped ones with several channels a group) is the
 * general class, whose speed is `compute.gflops`.
 */
export const OPERATOR_CLASSES = ["pointwise", "depthwise", "matmul"] as const;
export type OperatorClass = (typeof OPERATOR_CLASSES)[number];

const nonneg = z.number().nonnegative();

/** FLOPs of a layer by operator class; the layer's `flops` less their sum is the general class's. */
export const flopsByOperator = z
  .strictObject({ pointwise: nonneg.optional(), depthwise: nonneg.optional(), matmul: nonneg.optional() })
  .describe("the part of `flops` in 1x1 convolutions, depthwise convolutions and matrix multiplies (set by `eictl model import`); the rest runs at the node's general `compute.gflops`");
export type FlopsByOperator = z.infer<typeof flopsByOperator>;

/**
 * Operators whose work `flops` does not count (it counts the multiply-adds of convolutions and
 * matrix multiplies, as the published layer tables do) but which take as long as a convolution on a
 * CPU: LocalResponseNormalization, a window sum and a power per element (AlexNet's norm1 takes
 * four times its conv1's time in onnxruntime). Neurosurgeon models LRN as a layer type of its own
 * for the same reason. Their work is a layer's `elementOps`, timed at the node's speed for them.
 */
export const ELEMENT_CLASSES = ["lrn"] as const;
export type ElementClass = (typeof ELEMENT_CLASSES)[number];

/** Work of a layer's operators outside `flops`, by class (operations: 2 x the window's multiply-adds). */
export const elementOps = z
  .strictObject({ lrn: nonneg.optional() })
  .describe(
    "operations of operators `flops` does not count (set by `eictl model import`): `lrn` = 2 x size x output elements of LocalResponseNormalization; timed at the node's `compute.gflopsByOperator.lrn`",
  );
export type ElementOps = z.infer<typeof elementOps>;

const speed = z.number().positive().optional();

/** A node's speed by operator class (GFLOP/s); a class it does not name runs at `compute.gflops`. */
export const gflopsByOperator = z
  .strictObject({ pointwise: speed, depthwise: speed, matmul: speed, lrn: speed })
  .describe("GFLOP/s on 1x1 convolutions, depthwise convolutions, matrix multiplies and local response normalization, where they differ from `gflops` (measured by the agent with onnxruntime)");
export type GflopsByOperator = z.infer<typeof gflopsByOperator>;

/** Σ of the classes' FLOPs. */
export function classifiedFlops(f: FlopsByOperator | undefined): number {
  return f ? (f.pointwise ?? 0) + (f.depthwise ?? 0) + (f.matmul ?? 0) : 0;
}
