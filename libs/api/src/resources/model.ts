import { z } from "zod";
import { LIST_SET, listMap } from "../meta.js";
import { baseStatusShape, objectSchema, type ApiObject } from "./object.js";
import { classifiedFlops, elementOps, flopsByOperator } from "../operators.js";

const nonneg = z.number().nonnegative();
const accuracy = z.number().min(0).max(1);

export const modelLayer = z.strictObject({
  name: z.string().min(1),
  flops: nonneg,
  flopsByOperator: flopsByOperator.optional(),
  elementOps: elementOps.optional(),
  outputBytes: nonneg,
  memoryMiB: nonneg.default(0),
  tensor: z
    .string()
    .min(1)
    .max(256)
    .optional()
    .describe("name of the tensor that leaves this layer in the model's ONNX graph (set by `eictl model import`): a serve task's sub-model ends here and the next layer's starts here"),
});
export type ModelLayer = z.infer<typeof modelLayer>;

/** Measured per-layer latency (and optionally power) of the model on one hardware class. */
export const layerProfile = z.strictObject({
  hardware: z.string().min(1),
  layerLatencyMs: z.array(nonneg),
  layerPowerW: z.array(nonneg).optional(),
});
export type LayerProfile = z.infer<typeof layerProfile>;

export const exitHead = z.strictObject({
  flops: nonneg.default(0),
  flopsByOperator: flopsByOperator.optional(),
  elementOps: elementOps.optional(),
  outputBytes: nonneg.default(0),
  memoryMiB: nonneg.default(0),
  profiles: z.array(z.strictObject({ hardware: z.string().min(1), latencyMs: nonneg, powerW: nonneg.optional() })).default([]),
});
export type ExitHead = z.infer<typeof exitHead>;

export const earlyExit = z.strictObject({
  /** Base layers run before the exit's head (1-based). */
  afterLayer: z.number().int().min(1),
  accuracy,
  head: exitHead.default({ flops: 0, outputBytes: 0, memoryMiB: 0, profiles: [] }),
});
export type EarlyExit = z.infer<typeof earlyExit>;

/** Cross-field rules: profile lengths match the layers, exits fall inside the model. */
function checkLayered(value: { layers: ModelLayer[]; profiles?: LayerProfile[]; exits?: EarlyExit[] }, ctx: z.RefinementCtx): void {
  const n = value.layers.length;
  value.layers.forEach((l, i) => {
    // A small tolerance: the classes' sums are rounded like `flops` itself.
    if (classifiedFlops(l.flopsByOperator) > l.flops * 1.000001 + 1) {
      ctx.addIssue({ code: "custom", path: ["layers", i, "flopsByOperator"], message: `adds up to more than the layer's flops (${l.flops})` });
    }
  });
  value.profiles?.forEach((p, i) => {
    if (p.layerLatencyMs.length !== n) {
      ctx.addIssue({
        code: "custom",
        path: ["profiles", i, "layerLatencyMs"],
        message: `must have one entry per layer (${n}), got ${p.layerLatencyMs.length}`,
      });
    }
    if (p.layerPowerW && p.layerPowerW.length !== n) {
      ctx.addIssue({
        code: "custom",
        path: ["profiles", i, "layerPowerW"],
        message: `must have one entry per layer (${n}), got ${p.layerPowerW.length}`,
      });
    }
  });
  value.exits?.forEach((e, i) => {
    if (e.afterLayer >= n) {
      ctx.addIssue({
        code: "custom",
        path: ["exits", i, "afterLayer"],
        message: `must be less than the number of layers (${n})`,
      });
    }
  });
}

export const modelVariant = z
  .strictObject({
    name: z.string().min(1),
    accuracy,
    inputBytes: nonneg.optional(),
    layers: z.array(modelLayer).min(1),
    profiles: z.array(layerProfile).optional(),
    exits: z.array(earlyExit).optional(),
  })
  .superRefine(checkLayered);
export type ModelVariant = z.infer<typeof modelVariant>;

export const modelSpec = z
  .strictObject({
    inputBytes: nonneg,
    /** Accuracy of the full model (0..1). */
    accuracy,
    layers: z.array(modelLayer).min(1),
    profiles: z.array(layerProfile).default([]),
    exits: z.array(earlyExit).default([]),
    variants: z.array(modelVariant).default([]),
    capabilities: z.array(z.string()).meta(LIST_SET).default([]),
    image: z.string().optional(),
  })
  .superRefine((value, ctx) => {
    checkLayered(value, ctx);
    const seen = new Set<string>();
    value.variants.forEach((v, i) => {
      if (v.name === "base" || seen.has(v.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["variants", i, "name"],
          message: v.name === "base" ? `"base" is reserved for the model itself` : `duplicate variant "${v.name}"`,
        });
      }
      seen.add(v.name);
    });
  });
export type ModelSpec = z.infer<typeof modelSpec>;
export type ModelSpecInput = z.input<typeof modelSpec>;

/**
 * The Model's stored ONNX file (`PUT .../models/{name}/artifact`), written by the API server when
 * an upload is stored: its digest (the artifact's ETag; agents verify what they fetch against it),
 * size and time. The bytes are not part of the object.
 */
export const modelArtifactStatus = z.strictObject({
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
  sizeBytes: z.number().int().nonnegative(),
  format: z.literal("onnx"),
  uploadedAt: z.string(),
});
export type ModelArtifactStatus = z.infer<typeof modelArtifactStatus>;

/**
 * Annotation of a Model imported with an explicit input shape (`eictl model import --input
 * 1x3x224x224`, for an ONNX file with dynamic dimensions): agents cut the artifact's segments with
 * the same shape, so they get the same layers.
 */
export const ONNX_INPUT_SHAPE_ANNOTATION = "eiaas.io/onnx-input-shape";

/**
 * The stored ONNX file of an early exit's head (`PUT .../models/{name}/artifact?exit=N`), for the
 * exit declared in `spec.exits` with `afterLayer` N: written by the API server as `status.artifact`
 * is. Agents fetch it for a task whose layer range takes in the exit's head.
 */
export const exitArtifactStatus = modelArtifactStatus.extend({
  /** The exit's `afterLayer` (spec.exits): the head reads the cut tensor after this layer. */
  afterLayer: z.number().int().min(1),
  /**
   * sha256 of the base graph (`status.artifact`) the head was last found to read: set when the head
   * is uploaded and when a new base graph is checked against it; a head whose value differs from
   * the base graph's is checked again by the API server's sweep.
   */
  checkedAgainst: z.string().optional(),
});
export type ExitArtifactStatus = z.infer<typeof exitArtifactStatus>;

export const modelStatus = z.strictObject({
  ...baseStatusShape,
  artifact: modelArtifactStatus.optional(),
  /** One per exit head uploaded, by `afterLayer` (ascending). */
  exitArtifacts: z.array(exitArtifactStatus).meta(listMap("afterLayer")).optional(),
});
export type ModelStatus = z.infer<typeof modelStatus>;

export const modelObject = objectSchema("Model", modelSpec, modelStatus);
export type Model = ApiObject<ModelSpec, ModelStatus>;

/** The model's size in bytes: Σ layers' memoryMiB · 2^20. */
export function modelSizeBytes(spec: Pick<ModelSpec, "layers">): number {
  return spec.layers.reduce((sum, l) => sum + l.memoryMiB, 0) * 2 ** 20;
}
