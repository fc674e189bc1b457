// Small ONNX graphs whose run times give a node's speed per operator class (libs/api
// OPERATOR_CLASSES), in the planner's unit: each is made of the shapes the reference models are
// made of, and its flops are counted as a layer table counts them (2 × multiply-adds).
import type { ElementClass, OperatorClass } from "@eiaas/api";
import { GraphBuilder } from "./builder.js";

export interface CalibrationModel {
  /** "general" (k×k convolutions: `compute.gflops`), or the class whose speed the model gives. */
  measures: "general" | OperatorClass | ElementClass;
  bytes: Uint8Array;
  inputShape: number[];
  /** FLOPs of one run, by class ("general" = the rest), as a layer's `flops`, `flopsByOperator` and `elementOps` count them. */
  flops: Partial<Record<"general" | OperatorClass | ElementClass, number>>;
}

const conv2d = (cin: number, cout: number, k: number, hw: number, groups = 1) => 2 * cout * (cin / groups) * k * k * hw * hw;

/** Four 3×3 convolutions over 64 channels at 56×56 with BatchNorm and ReLU: ResNet-18's first stage. */
function general(): CalibrationModel {
  const g = new GraphBuilder("eiaas-calibration-general", { seed: 7 });
  let x = g.input("input", [1, 64, 56, 56]);
  for (let i = 0; i < 4; i++) x = g.relu(`block${i}/relu`, g.bn(`block${i}/bn`, g.conv(`block${i}/conv`, x, { cin: 64, cout: 64, k: 3, pad: 1 }), 64));
  return { measures: "general", bytes: g.build(x, [1, 64, 56, 56]), inputShape: [1, 64, 56, 56], flops: { general: 4 * conv2d(64, 64, 3, 56) } };
}

/** Inverted residual blocks in a calibration graph: enough that one run takes milliseconds even on a slow node's quota (fewer are dominated by per-run costs). */
const BLOCKS = 12;

/**
 * MobileNetV2's inverted residual at 28×28 (1×1 expansion 32→192, then, with `depthwise`, a 3×3
 * depthwise convolution, then 1×1 projection 192→32), {@link BLOCKS} times. Without the depthwise step it
 * times the 1×1 convolutions alone; with it, the difference is the depthwise convolutions' time
 * in the blocked memory layout onnxruntime gives them between 1×1 convolutions (alone, in plain
 * layout, they run at half that speed, which no model does).
 */
function invertedResiduals(depthwise: boolean): CalibrationModel {
  const g = new GraphBuilder(`eiaas-calibration-${depthwise ? "depthwise" : "pointwise"}`, { seed: 7 });
  let x = g.input("input", [1, 32, 28, 28]);
  for (let i = 0; i < BLOCKS; i++) {
    let y = g.relu6(`block${i}/expand/relu`, g.bn(`block${i}/expand/bn`, g.conv(`block${i}/expand`, x, { cin: 32, cout: 192, k: 1 }), 192));
    if (depthwise) y = g.relu6(`block${i}/dw/relu`, g.bn(`block${i}/dw/bn`, g.conv(`block${i}/dw`, y, { cin: 192, cout: 192, k: 3, pad: 1, groups: 192 }), 192));
    x = g.bn(`block${i}/project/bn`, g.conv(`block${i}/project`, y, { cin: 192, cout: 32, k: 1 }), 32);
  }
  const pointwise = BLOCKS * (conv2d(32, 192, 1, 28) + conv2d(192, 32, 1, 28));
  return {
    measures: depthwise ? "depthwise" : "pointwise",
    bytes: g.build(x, [1, 32, 28, 28]),
    inputShape: [1, 32, 28, 28],
    flops: depthwise ? { pointwise, depthwise: BLOCKS * conv2d(192, 192, 3, 28, 192) } : { pointwise },
  };
}

/** A 4096×4096 fully connected layer at batch 1 (AlexNet's and VGG-16's fc7): 64 MiB of weights read once a run. */
function matmul(): CalibrationModel {
  const g = new GraphBuilder("eiaas-calibration-matmul", { seed: 7 });
  const x = g.relu("fc/relu", g.linear("fc", g.input("input", [1, 4096]), 4096, 4096));
  return { measures: "matmul", bytes: g.build(x, [1, 4096]), inputShape: [1, 4096], flops: { matmul: 2 * 4096 * 4096 } };
}

/** AlexNet's norm1: LocalResponseNormalization (size 5) over 96×55×55; its work counted as a layer's `elementOps.lrn` (2 × size per element). */
function lrn(): CalibrationModel {
  const g = new GraphBuilder("eiaas-calibration-lrn", { seed: 7 });
  const shape = [1, 96, 55, 55];
  const x = g.lrn("norm", g.input("input", shape));
  return { measures: "lrn", bytes: g.build(x, shape), inputShape: shape, flops: { lrn: 2 * 5 * 96 * 55 * 55 } };
}

/** The calibration graphs, in the order their speeds are derived (depthwise needs pointwise's). */
export function calibrationModels(): CalibrationModel[] {
  return [general(), invertedResiduals(false), invertedResiduals(true), matmul(), lrn()];
}

/**
 * Speeds (GFLOP/s) from the calibration models' median run times (ms, by `measures`): each
 * model's flops over its time, the depthwise model's time less what its 1×1 convolutions take at
 * the pointwise speed. A class whose time cannot be told apart (the difference under 5% of the
 * run: noise) is left out, so it runs at the general speed.
 */
export function speedsFromTimes(
  models: readonly CalibrationModel[],
  medianMs: Partial<Record<CalibrationModel["measures"], number>>,
): { gflops: number; byOperator: Partial<Record<OperatorClass | ElementClass, number>> } {
  const of = (m: CalibrationModel["measures"]) => models.find((x) => x.measures === m);
  const speed = (flops: number | undefined, ms: number | undefined) => (flops && ms && ms > 0 ? flops / 1e6 / ms : undefined);
  const gflops = speed(of("general")?.flops.general, medianMs.general) ?? 0;
  const byOperator: Partial<Record<OperatorClass | ElementClass, number>> = {};
  const pw = speed(of("pointwise")?.flops.pointwise, medianMs.pointwise);
  if (pw) byOperator.pointwise = pw;
  const dwModel = of("depthwise");
  if (pw && dwModel && medianMs.depthwise) {
    const rest = medianMs.depthwise - (dwModel.flops.pointwise ?? 0) / 1e6 / pw;
    if (rest > 0.05 * medianMs.depthwise) byOperator.depthwise = speed(dwModel.flops.depthwise, rest)!;
  }
  const mm = speed(of("matmul")?.flops.matmul, medianMs.matmul);
  if (mm) byOperator.matmul = mm;
  const lrnSpeed = speed(of("lrn")?.flops.lrn, medianMs.lrn);
  if (lrnSpeed) byOperator.lrn = lrnSpeed;
  return { gflops, byOperator };
}
