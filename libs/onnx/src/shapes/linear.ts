// Gemm, MatMul and the operators that re-shape tensors between convolutional and dense parts.
import { attrInt } from "../proto.js";
import { axisOf, broadcast, fmt, numel, type OpContext, type OpDef, type TensorInfo } from "./context.js";

export const gemm: OpDef = {
  infer(ctx) {
    const a = ctx.input(0);
    const b = ctx.input(1);
    if (a.shape.length !== 2 || b.shape.length !== 2) ctx.fail(`A ${fmt(a.shape)} and B ${fmt(b.shape)} must be matrices`);
    const [m, k] = attrInt(ctx.node, "transA", 0) ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [kb, n] = attrInt(ctx.node, "transB", 0) ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (k !== kb) ctx.fail(`A ${fmt(a.shape)} and B ${fmt(b.shape)} do not multiply (transA/transB applied)`);
    const c = ctx.optionalInput(2);
    if (c) broadcast(ctx, [m, n], c.shape).forEach((d, i) => d !== [m, n][i] && ctx.fail(`C ${fmt(c.shape)} does not broadcast to [${m},${n}]`));
    return [{ elemType: a.elemType, shape: [m, n] }];
  },
  // M·N·K: one multiply-add per (row, column, inner) triple; the C add and the alpha/beta scaling are not counted.
  macs(ctx, [y]) {
    const a = ctx.input(0);
    const k = attrInt(ctx.node, "transA", 0) ? a.shape[0]! : a.shape[1]!;
    return numel(y!.shape) * k;
  },
};

function matmulShape(ctx: OpContext): { out: number[]; k: number } {
  const a = ctx.input(0).shape;
  const b = ctx.input(1).shape;
  if (a.length === 0 || b.length === 0) ctx.fail(`MatMul needs at least one dimension on both sides`);
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k = a2[a2.length - 1]!;
  if (k !== b2[b2.length - 2]) ctx.fail(`${fmt(a)} and ${fmt(b)} do not multiply`);
  const batch = broadcast(ctx, a2.slice(0, -2), b2.slice(0, -2));
  const out = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return { out, k };
}

export const matMul: OpDef = {
  infer(ctx) {
    return [{ elemType: ctx.input(0).elemType, shape: matmulShape(ctx).out }];
  },
  macs(ctx, [y]) {
    return numel(y!.shape) * matmulShape(ctx).k;
  },
};

export const flatten: OpDef = {
  infer(ctx) {
    const x = ctx.input(0);
    const rank = x.shape.length;
    const raw = attrInt(ctx.node, "axis", 1);
    const axis = raw === rank ? rank : axisOf(ctx, raw, rank);
    return [{ elemType: x.elemType, shape: [numel(x.shape.slice(0, axis)), numel(x.shape.slice(axis))] }];
  },
};

export const reshape: OpDef = {
  infer(ctx) {
    const x = ctx.input(0);
    const target = ctx.constInts(1) ?? ctx.fail(`the shape (input 1) must be an initializer or a Constant`);
    const allowZero = attrInt(ctx.node, "allowzero", 0) === 1;
    const out = target.map((d, i) => (d === 0 && !allowZero ? (x.shape[i] ?? ctx.fail(`shape ${fmt(target)}: no dimension ${i} to copy`)) : d));
    const unknown = out.filter((d) => d === -1).length;
    if (unknown > 1 || out.some((d) => d < -1)) ctx.fail(`invalid shape ${fmt(target)}`);
    const total = numel(x.shape);
    if (unknown === 1) {
      const known = numel(out.filter((d) => d !== -1));
      if (known === 0 || total % known !== 0) ctx.fail(`cannot reshape ${fmt(x.shape)} to ${fmt(target)}`);
      out[out.indexOf(-1)] = total / known;
    }
    if (numel(out) !== total) ctx.fail(`cannot reshape ${fmt(x.shape)} (${total} elements) to ${fmt(target)}`);
    return [{ elemType: x.elemType, shape: out }];
  },
};

export const concat: OpDef = {
  infer(ctx) {
    const inputs: TensorInfo[] = [];
    for (let i = 0; i < ctx.inputCount; i++) inputs.push(ctx.input(i));
    const first = inputs[0] ?? ctx.fail(`needs at least one input`);
    const rank = first.shape.length;
    const axis = axisOf(ctx, attrInt(ctx.node, "axis", Number.NaN), rank);
    const out = [...first.shape];
    out[axis] = 0;
    for (const t of inputs) {
      const same = t.shape.length === rank && t.shape.every((d, i) => i === axis || d === first.shape[i]);
      if (!same || t.elemType !== first.elemType) ctx.fail(`inputs ${inputs.map((x) => fmt(x.shape)).join(", ")} do not concatenate on axis ${axis}`);
      out[axis]! += t.shape[axis]!;
    }
    return [{ elemType: first.elemType, shape: out }];
  },
};
