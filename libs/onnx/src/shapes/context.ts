import { OnnxImportError, nodeLabel } from "../errors.js";
import type { NodeProto } from "../proto.js";

/** Static type of a tensor: element type (TensorProto.DataType) and dimensions, batch included. */
export interface TensorInfo {
  elemType: number;
  shape: number[];
}

/** What an operator's shape function sees of one node. */
export interface OpContext {
  readonly node: NodeProto;
  readonly label: { name: string; opType: string };
  readonly opset: number;
  /** Input `i`'s type; a missing required input is an error. */
  input(i: number): TensorInfo;
  /** Input `i`'s type, or undefined when the optional input is absent. */
  optionalInput(i: number): TensorInfo | undefined;
  /** The integer values of input `i` when it is an initializer or a Constant (e.g. a Reshape's shape). */
  constInts(i: number): number[] | undefined;
  /** Number of inputs named on the node (optional trailing ones may be empty strings). */
  readonly inputCount: number;
  fail(message: string): never;
}

/** Shape function and cost of one operator. */
export interface OpDef {
  /** Output types, one per output the op defines (trailing optional outputs may be omitted). */
  infer(ctx: OpContext): TensorInfo[];
  /** Multiply-adds (only Conv, Gemm and MatMul define it: see the package README). */
  macs?(ctx: OpContext, outputs: TensorInfo[]): number;
}

export function shapeError(label: { name: string; opType: string }, message: string): OnnxImportError {
  return new OnnxImportError("ShapeMismatch", `${nodeLabel(label)}: ${message}`, label);
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export const fmt = (shape: readonly number[]): string => `[${shape.join(",")}]`;

/** A normalised axis in [0, rank), or an error. */
export function axisOf(ctx: OpContext, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) ctx.fail(`axis ${axis} is outside a tensor of rank ${rank}`);
  return a;
}

/** Numpy-style broadcast of two shapes (Add, Mul, ... and MatMul's batch dims). */
export function broadcast(ctx: OpContext, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) ctx.fail(`cannot broadcast ${fmt(a)} with ${fmt(b)}`);
    out.push(x === 1 ? y : x);
  }
  return out;
}
