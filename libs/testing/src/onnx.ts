// Test-only: small ONNX models written byte by byte (the protobuf wire format of onnx.proto), so
// tests of the artifact path need no generator and no ONNX library of the code under test.

type Part = Uint8Array;

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

function concat(parts: Part[]): Uint8Array {
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const int = (field: number, value: number | bigint): Part => Uint8Array.from([...varint((field << 3) | 0), ...varint(value)]);
const bytes = (field: number, value: Uint8Array): Part => concat([Uint8Array.from([...varint((field << 3) | 2), ...varint(value.length)]), value]);
const str = (field: number, value: string): Part => bytes(field, new TextEncoder().encode(value));
const msg = (field: number, parts: Part[]): Part => bytes(field, concat(parts));

const FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;
const ATTR_FLOAT = 1;

function attrInt(name: string, v: number): Part {
  return msg(5, [str(1, name), int(3, v), int(20, ATTR_INT)]);
}
function attrInts(name: string, vs: number[]): Part {
  return msg(5, [str(1, name), ...vs.map((v) => int(8, v)), int(20, ATTR_INTS)]);
}
function attrFloat(name: string, v: number): Part {
  const f = new Uint8Array(4);
  new DataView(f.buffer).setFloat32(0, v, true);
  return msg(5, [str(1, name), concat([Uint8Array.from(varint((2 << 3) | 5)), f]), int(20, ATTR_FLOAT)]);
}

function node(op: string, name: string, inputs: string[], outputs: string[], attrs: Part[] = []): Part {
  return msg(1, [...inputs.map((i) => str(1, i)), ...outputs.map((o) => str(2, o)), str(3, name), str(4, op), ...attrs]);
}

function valueInfo(field: number, name: string, dims: number[]): Part {
  const shape = dims.map((d) => msg(1, [int(1, d)]));
  return msg(field, [str(1, name), msg(2, [msg(1, [int(1, FLOAT), msg(2, shape)])])]);
}

/** Deterministic pseudo-random floats in [-0.5, 0.5) (an LCG: tests need stable bytes, not quality). */
function weights(count: number, seed: number): Uint8Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return new Uint8Array(out.buffer);
}

function floatInit(name: string, dims: number[], seed: number): Part {
  const count = dims.reduce((a, b) => a * b, 1);
  return msg(5, [...dims.map((d) => int(1, d)), int(2, FLOAT), str(8, name), bytes(9, weights(count, seed))]);
}

export interface TinyCnnOptions {
  /** Output classes of the final Gemm (its weights are 256 × classes floats). Default 10. */
  classes?: number;
  /** Weight seed. Default 1. */
  seed?: number;
  /** Make the input's batch dimension symbolic (`N`) instead of 1. Default false. */
  dynamicBatch?: boolean;
}

/**
 * A small image classifier as ONNX bytes (opset 13): input `input` 1×3×8×8 float → Conv 3→4 (3×3,
 * pad 1) `conv1` → Relu → Conv 4→4 `conv2` → Relu → Flatten → Gemm 256→classes `fc` → output
 * `logits`. Weights are seeded, so the bytes are the same for the same options; `classes`
 * makes the file as large as a test needs (about classes KiB).
 */
export function tinyCnnOnnx(opts: TinyCnnOptions = {}): Uint8Array {
  const classes = opts.classes ?? 10;
  const seed = opts.seed ?? 1;
  const conv = [attrInts("kernel_shape", [3, 3]), attrInts("pads", [1, 1, 1, 1]), attrInts("strides", [1, 1])];
  const graph = [
    node("Conv", "conv1", ["input", "conv1.weight", "conv1.bias"], ["conv1.out"], conv),
    node("Relu", "relu1", ["conv1.out"], ["relu1.out"]),
    node("Conv", "conv2", ["relu1.out", "conv2.weight", "conv2.bias"], ["conv2.out"], conv),
    node("Relu", "relu2", ["conv2.out"], ["relu2.out"]),
    node("Flatten", "flatten", ["relu2.out"], ["flat"], [attrInt("axis", 1)]),
    node("Gemm", "fc", ["flat", "fc.weight", "fc.bias"], ["logits"], [attrInt("transB", 1), attrFloat("alpha", 1), attrFloat("beta", 1)]),
    str(2, "tiny-cnn"),
    floatInit("conv1.weight", [4, 3, 3, 3], seed),
    floatInit("conv1.bias", [4], seed + 1),
    floatInit("conv2.weight", [4, 4, 3, 3], seed + 2),
    floatInit("conv2.bias", [4], seed + 3),
    floatInit("fc.weight", [classes, 256], seed + 4),
    floatInit("fc.bias", [classes], seed + 5),
    opts.dynamicBatch
      ? msg(11, [str(1, "input"), msg(2, [msg(1, [int(1, FLOAT), msg(2, [msg(1, [str(2, "N")]), ...[3, 8, 8].map((d) => msg(1, [int(1, d)]))])])])])
      : valueInfo(11, "input", [1, 3, 8, 8]),
    valueInfo(12, "logits", [1, classes]),
  ];
  return concat([int(1, 8), str(2, "eiaas-tests"), msg(8, [str(1, ""), int(2, 13)]), msg(7, graph)]);
}
