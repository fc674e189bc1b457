// A small CNN written as ONNX graphs with onnx-proto, for the serving tests and the overhead bench:
//   input [1,3,H,W] → Conv 3→8 (3×3, pad 1) → Relu → Conv 8→8 (3×3, stride 2, pad 1) → Relu   (head)
//   → GlobalAveragePool → Flatten → Gemm 8→10                                                (tail)
// The whole model, its two segments cut at the second Relu's output (the same weights), and an
// exit head reading that cut tensor (GlobalAveragePool → Flatten → Gemm 8→10, weights of its own).
// Weights are seeded, so every build of the same seed is the same bytes.
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
type INode = InstanceType<typeof onnx.NodeProto>;
type ITensor = InstanceType<typeof onnx.TensorProto>;

/** Deterministic uniform numbers in [-scale, scale) (mulberry32). */
function seeded(seed: number): (scale: number) => number {
  let a = seed >>> 0;
  return (scale) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  };
}

function tensor(name: string, dims: number[], random: (s: number) => number, scale: number): ITensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = random(scale);
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(values.buffer) });
}

function valueInfo(name: string, dims: number[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
}

const ints = (name: string, values: number[]) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });
const int = (name: string, value: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
const node = (opType: string, name: string, input: string[], output: string[], attribute: ReturnType<typeof int>[] = []): INode => onnx.NodeProto.create({ opType, name, input, output, attribute });

function model(nodes: INode[], initializers: ITensor[], input: [string, number[]], output: [string, number[]], name: string): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 13 }],
      producerName: "eiaas-serving-tests",
      graph: { name, node: nodes, initializer: initializers, input: [valueInfo(...input)], output: [valueInfo(...output)] },
    }),
  ).finish();
}

export interface TinyCnn {
  /** The whole model: [1,3,H,W] → logits [1,10]. */
  whole: Uint8Array;
  /** Layers 1..2 (the two convolutions): [1,3,H,W] → the cut tensor [1,8,H/2,W/2]. */
  head: Uint8Array;
  /** Layer 3 (pool + classifier): the cut tensor → logits [1,10]. */
  tail: Uint8Array;
  /** An early exit reading the cut tensor: → logits [1,10]. */
  exitHead: Uint8Array;
  inputShape: number[];
  cutShape: number[];
  outputShape: number[];
}

/** Builds the tiny CNN for an input of `size`×`size` pixels (even), weights from `seed`. */
export function tinyCnn(options: { size?: number; seed?: number } = {}): TinyCnn {
  const size = options.size ?? 16;
  const random = seeded(options.seed ?? 1);
  const inputShape = [1, 3, size, size];
  const cutShape = [1, 8, size / 2, size / 2];
  const outputShape = [1, 10];
  const w1 = tensor("conv1.weight", [8, 3, 3, 3], random, 0.4);
  const b1 = tensor("conv1.bias", [8], random, 0.1);
  const w2 = tensor("conv2.weight", [8, 8, 3, 3], random, 0.3);
  const b2 = tensor("conv2.bias", [8], random, 0.1);
  const fw = tensor("fc.weight", [10, 8], random, 1.5);
  const fb = tensor("fc.bias", [10], random, 0.2);
  const ew = tensor("exit.fc.weight", [10, 8], random, 2);
  const eb = tensor("exit.fc.bias", [10], random, 0.2);

  const headNodes = [
    node("Conv", "conv1", ["input", "conv1.weight", "conv1.bias"], ["conv1.out"], [ints("kernel_shape", [3, 3]), ints("pads", [1, 1, 1, 1])]),
    node("Relu", "relu1", ["conv1.out"], ["relu1.out"]),
    node("Conv", "conv2", ["relu1.out", "conv2.weight", "conv2.bias"], ["conv2.out"], [ints("kernel_shape", [3, 3]), ints("pads", [1, 1, 1, 1]), ints("strides", [2, 2])]),
    node("Relu", "relu2", ["conv2.out"], ["cut"]),
  ];
  const classifier = (prefix: string, from: string, out: string) => [
    node("GlobalAveragePool", `${prefix}pool`, [from], [`${prefix}pool.out`]),
    node("Flatten", `${prefix}flatten`, [`${prefix}pool.out`], [`${prefix}flat`], [int("axis", 1)]),
    node("Gemm", `${prefix}fc`, [`${prefix}flat`, `${prefix}fc.weight`, `${prefix}fc.bias`], [out], [int("transB", 1)]),
  ];
  return {
    whole: model([...headNodes, ...classifier("", "cut", "logits")], [w1, b1, w2, b2, fw, fb], ["input", inputShape], ["logits", outputShape], "tiny-cnn"),
    head: model(headNodes, [w1, b1, w2, b2], ["input", inputShape], ["cut", cutShape], "tiny-cnn-head"),
    tail: model(classifier("", "cut", "logits"), [fw, fb], ["cut", cutShape], ["logits", outputShape], "tiny-cnn-tail"),
    exitHead: model(classifier("exit.", "cut", "exit.logits"), [ew, eb], ["cut", cutShape], ["exit.logits", outputShape], "tiny-cnn-exit"),
    inputShape,
    cutShape,
    outputShape,
  };
}

/** `n` seeded float32 values in [-1, 1). */
export function randomInput(n: number, seed = 7): Float32Array {
  const random = seeded(seed);
  return Float32Array.from({ length: n }, () => random(1));
}
