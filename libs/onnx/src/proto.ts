// The single place that touches onnx-proto (protobufjs): decoding, encoding, and the conversions
// from its int64 (Long) and TensorProto representations to plain numbers.
import onnxProto from "onnx-proto";
import { OnnxImportError } from "./errors.js";

export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.IModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;

type IntLike = number | { toNumber(): number; toString(): string } | null | undefined;

/** An int64 field as a number; refuses values past 2^53 instead of rounding them silently. */
export function toInt(v: IntLike, what: string): number {
  if (v === null || v === undefined) return 0;
  const n = typeof v === "number" ? v : v.toNumber();
  if (!Number.isSafeInteger(n)) throw new OnnxImportError("InvalidOnnx", `${what}: ${String(v)} is not a usable integer`);
  return n;
}

/** Bytes per element of ONNX TensorProto.DataType values (strings and complex types excluded). */
const ELEM_SIZE: Record<number, number> = {
  1: 4, // FLOAT
  2: 1, // UINT8
  3: 1, // INT8
  4: 2, // UINT16
  5: 2, // INT16
  6: 4, // INT32
  7: 8, // INT64
  9: 1, // BOOL
  10: 2, // FLOAT16
  11: 8, // DOUBLE
  12: 4, // UINT32
  13: 8, // UINT64
  16: 2, // BFLOAT16
};
export const FLOAT = 1;
export const INT64 = 7;

/** Size in bytes of one element of `dataType`, or an error naming the tensor. */
export function elemSize(dataType: number, tensor: string): number {
  const size = ELEM_SIZE[dataType];
  if (size === undefined) throw new OnnxImportError("InvalidOnnx", `tensor "${tensor}" has an unsupported element type (${dataType})`);
  return size;
}

/** Decodes a ModelProto; protobufjs errors (truncation, wrong wire types, deep nesting) become InvalidOnnx. */
export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    const message = String((e as Error)?.message ?? e)
      .split("\n")[0]!
      .slice(0, 200);
    const why = e instanceof RangeError && /stack/i.test(message) ? "nested too deeply" : /index out of range/.test(message) ? `truncated or corrupt: ${message}` : message;
    throw new OnnxImportError("InvalidOnnx", `not a readable ONNX model (${why})`);
  }
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** The attribute `name` of a node, or undefined. */
export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

export function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = attr(node, name);
  return a ? toInt(a.i, `attribute ${name}`) : fallback;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a ? (a.ints ?? []).map((v) => toInt(v, `attribute ${name}`)) : undefined;
}

export function attrString(node: NodeProto, name: string, fallback: string): string {
  const a = attr(node, name);
  return a?.s ? new TextDecoder().decode(a.s) : fallback;
}

/** Dimensions of a TensorProto as numbers. */
export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map((d) => toInt(d, `dims of tensor "${t.name ?? ""}"`));
}

/** True when the tensor's bytes live in a separate file (TensorProto.DataLocation.EXTERNAL). */
export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === 1;
}

/**
 * The integer values of a small INT64/INT32 tensor (a Reshape's shape, a Clip bound is not needed).
 * Reads int64_data/int32_data or little-endian raw_data.
 */
export function tensorInts(t: TensorProto, what: string): number[] {
  if (isExternal(t)) throw new OnnxImportError("ExternalData", `${what}: tensor "${t.name ?? ""}" stores its values outside the file`);
  const type = t.dataType ?? 0;
  if (type !== INT64 && type !== 6) throw new OnnxImportError("InvalidOnnx", `${what}: tensor "${t.name ?? ""}" is not an integer tensor`);
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const step = type === INT64 ? 8 : 4;
    if (raw.byteLength % step !== 0) throw new OnnxImportError("InvalidOnnx", `${what}: tensor "${t.name ?? ""}" has truncated data`);
    const out: number[] = [];
    for (let o = 0; o < raw.byteLength; o += step) {
      const v = step === 8 ? Number(view.getBigInt64(o, true)) : view.getInt32(o, true);
      if (!Number.isSafeInteger(v)) throw new OnnxImportError("InvalidOnnx", `${what}: value out of range`);
      out.push(v);
    }
    return out;
  }
  const list = type === INT64 ? (t.int64Data ?? []) : (t.int32Data ?? []);
  return list.map((v) => toInt(v as IntLike, what));
}
