import { describe, expect, it } from "vitest";
import { GraphBuilder, OnnxImportError, extractSegment, importOnnxModel, parseOnnx, parseShape } from "./index.js";

/** conv → relu → conv → relu → pool → flatten → fc on a 1x3x32x32 input. */
function smallCnn(inputShape: Array<number | string> = [1, 3, 32, 32], seed = 1): Uint8Array {
  const g = new GraphBuilder("small", { seed });
  let x = g.input("input", inputShape);
  x = g.relu("block1/relu", g.conv("block1/conv", x, { cin: 3, cout: 8, k: 3, pad: 1 }));
  x = g.relu("block2/relu", g.conv("block2/conv", x, { cin: 8, cout: 16, k: 3, stride: 2, pad: 1, bias: true }));
  x = g.maxPool("block2/pool", x, 2, 2);
  x = g.linear("head/fc", g.flatten("head", x), 16 * 8 * 8, 10);
  return g.build(x, [1, 10]);
}

function refusal(f: () => unknown): OnnxImportError {
  try {
    f();
  } catch (e) {
    if (e instanceof OnnxImportError) return e;
    throw e;
  }
  throw new Error("expected an OnnxImportError");
}

const reason = (f: () => unknown): string => refusal(f).reason;

describe("importOnnxModel", () => {
  it("derives one layer per module with flops, output bytes and parameter memory", () => {
    const m = importOnnxModel(smallCnn());
    expect(m.inputName).toBe("input");
    expect(m.inputShape).toEqual([1, 3, 32, 32]);
    expect(m.inputBytes).toBe(3 * 32 * 32 * 4);
    expect(m.opsetVersion).toBe(13);
    expect(m.layers.map((l) => l.name)).toEqual(["block1", "block2", "head"]);
    const [b1, b2, head] = m.layers;
    expect(b1).toMatchObject({ flops: 2 * 32 * 32 * 8 * 3 * 9, outputBytes: 8 * 32 * 32 * 4, memoryMiB: 0.01, tensor: "/block1/relu/Relu_output_0" });
    expect(b2).toMatchObject({ flops: 2 * 16 * 16 * 16 * 8 * 9, outputBytes: 16 * 8 * 8 * 4, tensor: "/block2/pool/MaxPool_output_0" });
    expect(head).toMatchObject({ flops: 2 * 1024 * 10, outputBytes: 40, memoryMiB: 0.039, tensor: "/head/fc/Gemm_output_0" });
    // Every position between two nodes is a single-tensor cut in a chain.
    expect(m.cuts.map((c) => c.position)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("coalesce none keeps every cut point, weight fuses only activations and pooling", () => {
    expect(importOnnxModel(smallCnn(), { coalesce: "none" }).layers).toHaveLength(7);
    expect(importOnnxModel(smallCnn(), { coalesce: "weight" }).layers.map((l) => l.name)).toEqual(["block1", "block2", "head"]);
  });

  it("a torchvision export's names give conv1, one layer per block, fc", () => {
    const g = new GraphBuilder("torchvision");
    let x = g.input("input", [1, 3, 32, 32]);
    x = g.maxPool("maxpool", g.relu("relu", g.bn("bn1", g.conv("conv1", x, { cin: 3, cout: 8, k: 3, stride: 2, pad: 1 }), 8)), 3, 2, 1);
    for (const b of ["layer1/layer1.0", "layer1/layer1.1"]) {
      const y = g.bn(`${b}/bn2`, g.conv(`${b}/conv2`, g.relu(`${b}/relu`, g.bn(`${b}/bn1`, g.conv(`${b}/conv1`, x, { cin: 8, cout: 8, k: 3, pad: 1 }), 8)), { cin: 8, cout: 8, k: 3, pad: 1 }), 8);
      x = g.relu(`${b}/relu_1`, g.add(b, y, x));
    }
    x = g.linear("fc", g.flatten("", g.globalAvgPool("avgpool", x)), 8, 10);
    const m = importOnnxModel(g.build(x, [1, 10]));
    expect(m.layers.map((l) => [l.name, l.tensor])).toEqual([
      ["conv1", "/maxpool/MaxPool_output_0"],
      ["layer1.0", "/layer1/layer1.0/relu_1/Relu_output_0"],
      ["layer1.1", "/Flatten_output_0"],
      ["fc", x],
    ]);
  });

  it("imports a graph without an interior cut point as one layer", () => {
    const g = new GraphBuilder("branches");
    const x = g.input("input", [1, 4, 8, 8]);
    const a = g.conv("a", x, { cin: 4, cout: 4, k: 1 });
    const b = g.conv("b", x, { cin: 4, cout: 4, k: 1 });
    const y = g.op("cat", "Concat", [a, b], [{ name: "axis", type: 2, i: 1 }]);
    const m = importOnnxModel(g.build(y, [1, 8, 8, 8]));
    expect(m.cuts).toEqual([]);
    expect(m.layers).toEqual([{ name: "a", flops: 2 * 2 * 64 * 4 * 4, flopsByOperator: { pointwise: 2 * 2 * 64 * 4 * 4 }, outputBytes: 8 * 64 * 4, memoryMiB: 0.01, tensor: y }]);
  });

  it("keeps a residual block whole: the skip connection crosses every position inside it", () => {
    const g = new GraphBuilder("residual");
    const x = g.input("input", [1, 4, 8, 8]);
    const h = g.relu("blk/relu", g.conv("blk/conv1", x, { cin: 4, cout: 4, k: 3, pad: 1 }));
    const y = g.relu("blk/relu_1", g.add("blk", g.conv("blk/conv2", h, { cin: 4, cout: 4, k: 3, pad: 1 }), x));
    const z = g.conv("out", y, { cin: 4, cout: 2, k: 1 });
    const bytes = g.build(z, [1, 2, 8, 8]);
    const m = importOnnxModel(bytes, { coalesce: "none" });
    expect(m.cuts.map((c) => c.tensor)).toEqual(["/blk/Add_output_0", y]);
    expect(m.layers.map((l) => l.name)).toEqual(["blk", "blk_2", "out"]);
    expect(importOnnxModel(bytes).layers.map((l) => [l.name, l.tensor])).toEqual([
      ["blk", y],
      ["out", z],
    ]);
  });

  it("a weight read through another node (shared weights) is a parameter, not an activation", () => {
    const g = new GraphBuilder("shared");
    let x = g.relu("a", g.input("input", [1, 4]));
    const w = g.op("shared", "Identity", [g.weight("fc.weight", [4, 4])]);
    x = g.relu("b", g.op("fc1", "Gemm", [x, w], [{ name: "transB", type: 2, i: 1 }]));
    x = g.op("fc2", "Gemm", [x, w], [{ name: "transB", type: 2, i: 1 }]);
    const bytes = g.build(x, [1, 4]);
    const m = importOnnxModel(bytes);
    expect(m.layers.map((l) => [l.name, l.flops, l.tensor])).toEqual([
      ["fc1", 32, "/b/Relu_output_0"],
      ["fc2", 32, x],
    ]);
    expect(m.layers.every((l) => l.memoryMiB === 0.01)).toBe(true);
    const tail = parseOnnx(extractSegment(bytes, { fromLayer: 2, toLayer: 2 })).proto.graph!;
    expect(tail.node!.map((n) => n.name)).toEqual(["/shared/Identity", "/fc2/Gemm"]);
    expect(tail.initializer!.map((t) => t.name)).toEqual(["fc.weight"]);
  });

  it("refuses truncated bytes and bytes that are not ONNX with a clear message", () => {
    const bytes = smallCnn();
    const truncated = refusal(() => importOnnxModel(bytes.subarray(0, Math.floor(bytes.length / 2))));
    expect(truncated.reason).toBe("InvalidOnnx");
    expect(truncated.message).toMatch(/^not a readable ONNX model \(truncated or corrupt|no graph/);
    for (const junk of [new TextEncoder().encode("PK\u0003\u0004 this is a zip, not a model"), new Uint8Array(0), new Uint8Array(64).fill(255)]) {
      const e = refusal(() => parseOnnx(junk));
      expect(e.reason).toBe("InvalidOnnx");
      expect(e.message).not.toMatch(/\n/);
    }
  });

  it("names the operator and the node it does not support", () => {
    const g = new GraphBuilder("unsupported");
    const x = g.input("input", [1, 3, 8, 8]);
    const y = g.op("weird/thing", "GridSample", [x, x]);
    const e = refusal(() => importOnnxModel(g.build(y, [1, 3, 8, 8])));
    expect(e.reason).toBe("UnsupportedOperator");
    expect(e.message).toContain("GridSample");
    expect(e.message).toContain("/weird/thing/GridSample");
    expect(e.node).toEqual({ name: "/weird/thing/GridSample", opType: "GridSample" });
  });

  it("refuses a dynamic input without inputShape and imports it with one", () => {
    const dynamic = smallCnn(["N", 3, 32, 32]);
    const e = refusal(() => importOnnxModel(dynamic));
    expect(e.reason).toBe("DynamicShape");
    expect(e.message).toContain('input "input" has dynamic shape [N,3,32,32]');
    expect(e.message).toContain("--input");
    const m = importOnnxModel(dynamic, { inputShape: [1, 3, 32, 32] });
    expect(m.layers).toEqual(importOnnxModel(smallCnn()).layers);
    expect(refusal(() => importOnnxModel(dynamic, { inputShape: [1, 4, 32, 32] })).reason).toBe("ShapeMismatch");
    expect(refusal(() => importOnnxModel(dynamic, { inputShape: [1, 3, 32] })).reason).toBe("ShapeMismatch");
    expect(refusal(() => importOnnxModel(dynamic, { inputShape: [1, 3, 32, -32] })).reason).toBe("ShapeMismatch");
  });

  it("parses eictl's --input shapes", () => {
    expect(parseShape("1x3x224x224")).toEqual([1, 3, 224, 224]);
    expect(parseShape("1,3,32,32")).toEqual([1, 3, 32, 32]);
    for (const bad of ["", "1x0x2", "1x-3", "1xx3", "1.5x3", "0x1e3", "1x3x9999999999"]) expect(reason(() => parseShape(bad))).toBe("ShapeMismatch");
  });

  it("refuses shapes that do not fit, naming the node", () => {
    const g = new GraphBuilder("mismatch");
    const x = g.input("input", [1, 3, 8, 8]);
    const y = g.conv("c", x, { cin: 4, cout: 4, k: 1 });
    const e = refusal(() => importOnnxModel(g.build(y, [1, 4, 8, 8])));
    expect(e.reason).toBe("ShapeMismatch");
    expect(e.message).toMatch(/^node "\/c\/Conv" \(Conv\): input has 3 channels/);
  });

  it("refuses weights stored outside the file unless asked for a shape-only import", () => {
    const g = new GraphBuilder("external", { weights: "none" });
    const y = g.conv("c", g.input("input", [1, 3, 8, 8]), { cin: 3, cout: 4, k: 1 });
    const bytes = g.build(y, [1, 4, 8, 8]);
    expect(refusal(() => importOnnxModel(bytes)).reason).toBe("ExternalData");
    expect(importOnnxModel(bytes, { allowExternalData: true }).layers[0]!.memoryMiB).toBe(0.01);
  });
});
