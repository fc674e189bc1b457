// The static shapes the importer infers are the shapes onnxruntime produces, for the attribute
// combinations that are easy to get wrong (auto_pad, ceil_mode, dilations, asymmetric pads, groups,
// transposed Gemm, broadcast MatMul, Reshape's 0 and -1, Concat).
import ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { GraphBuilder, importOnnxModel } from "./index.js";

type Attr = { name: string; type: number; i?: number; ints?: number[]; s?: Uint8Array };
const ints = (name: string, v: number[]): Attr => ({ name, type: 7, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: 2, i: v });
const str = (name: string, v: string): Attr => ({ name, type: 3, s: new TextEncoder().encode(v) });

interface Case {
  title: string;
  input: number[];
  build(g: GraphBuilder, x: string): string;
}

const cases: Case[] = [
  { title: "Conv auto_pad SAME_UPPER stride 2", input: [1, 3, 15, 15], build: (g, x) => g.op("c", "Conv", [x, g.weight("w", [4, 3, 3, 3])], [str("auto_pad", "SAME_UPPER"), ints("strides", [2, 2])]) },
  { title: "Conv auto_pad SAME_LOWER", input: [1, 3, 10, 9], build: (g, x) => g.op("c", "Conv", [x, g.weight("w", [4, 3, 4, 4])], [str("auto_pad", "SAME_LOWER")]) },
  { title: "Conv auto_pad VALID stride 3", input: [1, 3, 16, 17], build: (g, x) => g.op("c", "Conv", [x, g.weight("w", [2, 3, 5, 5])], [str("auto_pad", "VALID"), ints("strides", [3, 3])]) },
  { title: "Conv dilations and asymmetric pads", input: [1, 2, 20, 20], build: (g, x) => g.op("c", "Conv", [x, g.weight("w", [6, 2, 3, 3])], [ints("dilations", [2, 3]), ints("pads", [0, 1, 2, 3])]) },
  {
    title: "Conv groups 4, stride 2x1",
    input: [1, 8, 12, 12],
    build: (g, x) => g.op("c", "Conv", [x, g.weight("w", [12, 2, 3, 3])], [int("group", 4), ints("strides", [2, 1]), ints("pads", [1, 1, 1, 1])]),
  },
  { title: "Conv 1-D", input: [1, 4, 30], build: (g, x) => g.op("c", "Conv", [x, g.weight("w", [5, 4, 7])], [ints("strides", [2])]) },
  { title: "MaxPool ceil_mode", input: [1, 3, 14, 14], build: (g, x) => g.op("p", "MaxPool", [x], [ints("kernel_shape", [3, 3]), ints("strides", [2, 2]), int("ceil_mode", 1)]) },
  {
    title: "MaxPool ceil_mode, last window in the padding",
    input: [1, 1, 5, 5],
    build: (g, x) => g.op("p", "MaxPool", [x], [ints("kernel_shape", [2, 2]), ints("strides", [2, 2]), ints("pads", [1, 1, 1, 1]), int("ceil_mode", 1)]),
  },
  { title: "AveragePool SAME_UPPER", input: [1, 3, 7, 8], build: (g, x) => g.op("p", "AveragePool", [x], [ints("kernel_shape", [3, 3]), ints("strides", [2, 2]), str("auto_pad", "SAME_UPPER")]) },
  { title: "GlobalAveragePool + Flatten axis 2", input: [1, 3, 5, 5], build: (g, x) => g.op("f", "Flatten", [g.globalAvgPool("gp", x)], [int("axis", 2)]) },
  { title: "Gemm transA", input: [6, 2], build: (g, x) => g.op("m", "Gemm", [x, g.weight("w", [6, 5]), g.weight("b", [5])], [int("transA", 1)]) },
  { title: "MatMul with broadcast batch", input: [2, 1, 3, 4], build: (g, x) => g.op("m", "MatMul", [x, g.weight("w", [5, 4, 6])]) },
  { title: "MatMul vector", input: [4], build: (g, x) => g.op("m", "MatMul", [x, g.weight("w", [4, 3])]) },
  {
    title: "Reshape with 0 and -1",
    input: [2, 3, 4, 5],
    build: (g, x) => g.op("r", "Reshape", [x, g.op("s", "Constant", [], [{ name: "value", type: 4, t: { dims: [3], dataType: 7, int64Data: [0, -1, 10] } } as unknown as Attr])]),
  },
  { title: "Concat axis -1 and Add broadcast", input: [1, 2, 3], build: (g, x) => g.add("a", g.op("c", "Concat", [x, g.relu("r", x)], [int("axis", -1)]), g.weight("b", [2, 1])) },
  { title: "LRN, Softmax, Dropout, Clip", input: [1, 6, 4, 4], build: (g, x) => g.op("s", "Softmax", [g.dropout("d", g.lrn("l", g.relu6("c", x)))], [int("axis", 1)]) },
];

describe("inferred shapes equal onnxruntime's", () => {
  it.each(cases)("$title", async ({ input, build }) => {
    const g = new GraphBuilder("case");
    const y = build(g, g.input("x", input));
    const bytes = g.build(y);
    const imported = importOnnxModel(bytes);
    const session = await ort.InferenceSession.create(bytes);
    const n = input.reduce((a, b) => a * b, 1);
    const out = await session.run({ x: new ort.Tensor("float32", new Float32Array(n).fill(0.5), input) });
    await session.release();
    expect(imported.outputShapes[0]).toEqual(out[y]!.dims);
  });
});
