// Conv and the pooling operators: output spatial size from kernel, strides, pads, dilations,
// auto_pad and ceil_mode, as the ONNX operator specification defines them.
import { attrInt, attrInts, attrString } from "../proto.js";
import { fmt, numel, type OpContext, type OpDef, type TensorInfo } from "./context.js";

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  ceil: boolean;
}

function spatialOut(ctx: OpContext, x: TensorInfo, w: Window): number[] {
  const spatial = x.shape.slice(2);
  const n = spatial.length;
  if (w.kernel.length !== n) ctx.fail(`kernel ${fmt(w.kernel)} does not fit input ${fmt(x.shape)}`);
  const autoPad = attrString(ctx.node, "auto_pad", "NOTSET");
  const pads = attrInts(ctx.node, "pads") ?? new Array<number>(2 * n).fill(0);
  if (pads.length !== 2 * n) ctx.fail(`pads ${fmt(pads)} must have ${2 * n} entries`);
  return spatial.map((size, i) => {
    const k = w.kernel[i]!;
    const s = w.strides[i] ?? 1;
    const d = w.dilations[i] ?? 1;
    if (k < 1 || s < 1 || d < 1) ctx.fail(`kernel, strides and dilations must be positive`);
    const span = d * (k - 1) + 1;
    if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") return Math.ceil(size / s);
    if (autoPad === "VALID") {
      if (size < span) ctx.fail(`window ${span} larger than input ${size}`);
      return Math.ceil((size - span + 1) / s);
    }
    if (autoPad !== "NOTSET") ctx.fail(`unknown auto_pad "${autoPad}"`);
    const begin = pads[i]!;
    const end = pads[i + n]!;
    const room = size + begin + end - span;
    if (room < 0) ctx.fail(`window ${span} larger than padded input ${size + begin + end}`);
    if (!w.ceil) return Math.floor(room / s) + 1;
    let out = Math.ceil(room / s) + 1;
    // The last window must start inside the input or its left padding (ONNX / onnxruntime).
    if ((out - 1) * s >= size + begin) out -= 1;
    return out;
  });
}

function windowOf(ctx: OpContext, kernel: number[]): Window {
  const n = kernel.length;
  return {
    kernel,
    strides: attrInts(ctx.node, "strides") ?? new Array<number>(n).fill(1),
    dilations: attrInts(ctx.node, "dilations") ?? new Array<number>(n).fill(1),
    ceil: attrInt(ctx.node, "ceil_mode", 0) === 1,
  };
}

function spatialInput(ctx: OpContext): TensorInfo {
  const x = ctx.input(0);
  if (x.shape.length < 3) ctx.fail(`input ${fmt(x.shape)} needs batch, channel and spatial dimensions`);
  return x;
}

export const conv: OpDef = {
  infer(ctx) {
    const x = spatialInput(ctx);
    const w = ctx.input(1);
    const group = attrInt(ctx.node, "group", 1);
    const cin = x.shape[1]!;
    if (w.shape.length !== x.shape.length) ctx.fail(`weight ${fmt(w.shape)} does not match input ${fmt(x.shape)}`);
    if (group < 1 || cin % group !== 0 || w.shape[1]! * group !== cin) {
      ctx.fail(`input has ${cin} channels but weight ${fmt(w.shape)} with group ${group} expects ${w.shape[1]! * group}`);
    }
    const cout = w.shape[0]!;
    if (cout % group !== 0) ctx.fail(`${cout} output channels do not divide into ${group} groups`);
    const bias = ctx.optionalInput(2);
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== cout)) ctx.fail(`bias ${fmt(bias.shape)} must be [${cout}]`);
    const kernel = attrInts(ctx.node, "kernel_shape") ?? w.shape.slice(2);
    if (fmt(kernel) !== fmt(w.shape.slice(2))) ctx.fail(`kernel_shape ${fmt(kernel)} differs from weight ${fmt(w.shape)}`);
    return [{ elemType: x.elemType, shape: [x.shape[0]!, cout, ...spatialOut(ctx, x, windowOf(ctx, kernel))] }];
  },
  // Every output element: (Cin / group) · kH · kW multiply-adds (the bias add is not counted).
  macs(ctx, [y]) {
    const w = ctx.input(1);
    return numel(y!.shape) * numel(w.shape.slice(1));
  },
};

function pool(withIndices: boolean): OpDef {
  return {
    infer(ctx) {
      const x = spatialInput(ctx);
      const kernel = attrInts(ctx.node, "kernel_shape") ?? ctx.fail(`kernel_shape is required`);
      const y = { elemType: x.elemType, shape: [x.shape[0]!, x.shape[1]!, ...spatialOut(ctx, x, windowOf(ctx, kernel))] };
      return withIndices ? [y, { elemType: 7, shape: y.shape }] : [y];
    },
  };
}

export const maxPool = pool(true);
export const averagePool = pool(false);

export const globalPool: OpDef = {
  infer(ctx) {
    const x = spatialInput(ctx);
    return [{ elemType: x.elemType, shape: [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map(() => 1)] }];
  },
};
