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

/** A node's speed by operator class (GFLOP/s); a class it does not name runs at `compute.gflops`. */
export const gflopsByOperator = z
  .strictObject({ pointwise: z.number().positive().optional(), depthwise: z.number().positive().optional(), matmul: z.number().positive().optional() })
  .describe("GFLOP/s on 1x1 convolutions, depthwise convolutions and matrix multiplies, where they differ from `gflops` (measured by the agent with onnxruntime)");
export type GflopsByOperator = z.infer<typeof gflopsByOperator>;

/** Σ of the classes' FLOPs. */
export function classifiedFlops(f: FlopsByOperator | undefined): number {
  return f ? (f.pointwise ?? 0) + (f.depthwise ?? 0) + (f.matmul ?? 0) : 0;
}
