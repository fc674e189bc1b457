// Operators whose output has the shape of their (broadcast) input: activations, normalisations,
// residual adds, softmax, dropout.
import { attrInt } from "../proto.js";
import { axisOf, broadcast, fmt, type OpDef } from "./context.js";

/** Output 0 = input 0's type; the other inputs are not looked at beyond existing. */
export const sameAsInput: OpDef = {
  infer: (ctx) => [ctx.input(0)],
};

/** Numpy-broadcasting binary ops (Add, Sub, Mul, Div). */
export const binary: OpDef = {
  infer(ctx) {
    const a = ctx.input(0);
    const b = ctx.input(1);
    if (a.elemType !== b.elemType) ctx.fail(`operands have different element types (${a.elemType}, ${b.elemType})`);
    return [{ elemType: a.elemType, shape: broadcast(ctx, a.shape, b.shape) }];
  },
};

export const batchNormalization: OpDef = {
  infer(ctx) {
    const x = ctx.input(0);
    if (x.shape.length < 2) ctx.fail(`input ${fmt(x.shape)} has no channel dimension`);
    const c = x.shape[1]!;
    for (let i = 1; i <= 4; i++) {
      const p = ctx.input(i);
      if (p.shape.length !== 1 || p.shape[0] !== c) ctx.fail(`input ${i} ${fmt(p.shape)} must be [${c}]`);
    }
    return [x];
  },
};

export const softmax: OpDef = {
  infer(ctx) {
    const x = ctx.input(0);
    axisOf(ctx, attrInt(ctx.node, "axis", ctx.opset >= 13 ? -1 : 1), x.shape.length);
    return [x];
  },
};

/** Dropout (inference: identity) with its optional boolean mask output. */
export const dropout: OpDef = {
  infer(ctx) {
    const x = ctx.input(0);
    return [x, { elemType: 9, shape: x.shape }];
  },
};

export const lrn: OpDef = {
  infer(ctx) {
    const x = ctx.input(0);
    if (x.shape.length < 3) ctx.fail(`input ${fmt(x.shape)} needs batch, channel and spatial dimensions`);
    if (attrInt(ctx.node, "size", 0) < 1) ctx.fail(`size is required and must be positive`);
    return [x];
  },
};
